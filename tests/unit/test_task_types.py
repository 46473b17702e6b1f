"""Each task type: label config, result round-trip, gold parsing and delivered views,
on small hand-made data."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
import yaml

from annoflow.spec import load_spec, parse_spec
from annoflow.tasktypes import TASK_TYPES, get_task_type
from annoflow.tasktypes.rubric_authoring import parse_rubric
from qc.pipeline import QCConfig, run_text_layers

REPO = Path(__file__).resolve().parents[2]
SPECS = {"pairwise_preference": "demo.yaml", **{t: f"{t}.yaml" for t in TASK_TYPES
                                                 if t != "pairwise_preference"}}


def spec_for(task_type: str, **task_changes):
    doc = yaml.safe_load((REPO / "configs/requests" / SPECS[task_type]).read_text())
    doc["task"].update(task_changes)
    return parse_spec(doc, base_dir=REPO)


def test_every_type_has_an_example_spec_and_profile() -> None:
    for t, name in SPECS.items():
        spec = load_spec(REPO / "configs/requests" / name, base_dir=REPO)
        assert spec.task.type == t
        assert (REPO / "configs/simulation" / (name if t != "pairwise_preference" else "demo.yaml")).exists()
    graded = load_spec(REPO / "configs/requests/pairwise_graded.yaml", base_dir=REPO)
    assert graded.task.graded and (REPO / "configs/simulation/pairwise_graded.yaml").exists()


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_label_config_is_xml_and_shows_data_only_as_text(task_type: str) -> None:
    spec = spec_for(task_type, instructions='Say "<b>why</b>" & how')
    config = get_task_type(task_type).label_config(spec)
    root = ET.fromstring(config)  # well-formed, instructions escaped
    assert root.tag == "View"
    assert root.find("Header").get("value") == 'Say "<b>why</b>" & how'
    data_tags = {el.tag for el in root.iter() if (el.get("value") or "").startswith("$")}
    assert data_tags == {"Text"}  # never HyperText/HTML: markup in items is shown, not rendered
    assert not re.search(r"\{\{\w+\}\}", config)  # every placeholder filled
    names = {el.get("name") for el in root.iter() if el.tag == "Text"}
    assert names == set(get_task_type(task_type).inputs)


@pytest.mark.parametrize("task_type,changes,answer", [
    ("pairwise_preference", {}, {"preference": "b"}),
    ("pairwise_preference", {"strength_levels": 2, "allow_tie": True}, {"preference": "-2"}),
    ("likert_rating", {}, {"rating": "4"}),
    ("classification", {}, {"label": "bug"}),
    ("classification", {"multi_label": True},
     {"billing": "1", "bug": "0", "feature_request": "1", "account": "0"}),
    ("rubric_grading", {}, {"correctness": "5", "clarity": "2", "completeness": "3"}),
    ("solution_authoring", {}, {"solution": "Use a set.\nIt is O(n)."}),
    ("rubric_authoring", {}, {"rubric": "a | 1 | x\nb | 2 | y\nc | 1 | z"}),
])
def test_results_round_trip(task_type: str, changes: dict, answer: dict) -> None:
    spec = spec_for(task_type, **changes)
    tt = get_task_type(task_type)
    result = tt.make_result(spec.task, answer)
    assert tt.parse_result(spec.task, result) == answer
    assert tt.parse_result(spec.task, []) == {}
    for q in tt.questions(spec.task):
        assert q.labels is None or answer[q.name] in q.labels


def test_graded_pairwise_scale_and_views() -> None:
    spec = spec_for("pairwise_preference", strength_levels=2, allow_tie=True)
    tt = get_task_type("pairwise_preference")
    (q,) = tt.questions(spec.task)
    assert q.labels == ("-2", "-1", "0", "1", "2") and q.level == "ordinal"
    items = pd.DataFrame({"item_id": ["i1", "i2", "i3"], "prompt": ["p1", "p2", "p3"],
                          "response_a": ["A1", "A2", "A3"], "response_b": ["B1", "B2", "B3"]})
    outcome = pd.DataFrame({"task": ["i1", "i2", "i3"], "field": "preference",
                            "label": ["-2", "0", "1"], "confidence": [0.9, 0.8, 0.7],
                            "n_judgments": 3})
    pref, kto = tt.delivery_views(spec.task, items, outcome)
    assert pref.table.to_dict("list") == {
        "prompt": ["p1", "p3"], "chosen": ["A1", "B3"], "rejected": ["B1", "A3"],
        "item_id": ["i1", "i3"], "confidence": [0.9, 0.7], "margin": [2, 1]}  # tie left out
    assert kto.table[["completion", "label"]].to_dict("list") == {
        "completion": ["A1", "B1", "B3", "A3"], "label": [True, False, True, False]}


def test_multi_label_classification_gold_and_view() -> None:
    spec = spec_for("classification", multi_label=True)
    tt = get_task_type("classification")
    assert tt.parse_gold(spec.task, "bug;billing") == {
        "billing": "1", "bug": "1", "feature_request": "0", "account": "0"}
    with pytest.raises(ValueError, match=r"\['spam'\] are not legal"):
        tt.parse_gold(spec.task, ["spam"])
    items = pd.DataFrame({"item_id": ["t1", "t2"], "text": ["x", "y"]})
    rows = [("t1", lab, "1" if lab in ("bug", "account") else "0") for lab in spec.task.labels]
    rows += [("t2", lab, "0") for lab in spec.task.labels]
    outcome = pd.DataFrame(rows, columns=["task", "field", "label"]).assign(confidence=0.9)
    (view,) = tt.delivery_views(spec.task, items, outcome)
    assert [list(v) for v in view.table["labels"]] == [["bug", "account"], []]


def test_rubric_grading_gold_and_overall_score() -> None:
    spec = spec_for("rubric_grading")
    tt = get_task_type("rubric_grading")
    assert tt.parse_gold(spec.task, '{"correctness": 5, "clarity": 1, "completeness": 3}') == {
        "correctness": "5", "clarity": "1", "completeness": "3"}
    with pytest.raises(ValueError, match="criterion 'clarity' must be 1..5, got 9"):
        tt.parse_gold(spec.task, {"correctness": 5, "clarity": 9, "completeness": 3})
    items = pd.DataFrame({"item_id": ["i1"], "prompt": ["p"], "response": ["r"]})
    outcome = pd.DataFrame({"task": "i1", "field": ["correctness", "clarity", "completeness"],
                            "label": ["5", "1", "3"], "confidence": [1.0, 0.5, 0.9]})
    scores, reward = tt.delivery_views(spec.task, items, outcome)
    # weights 2, 1, 1 on normalised scores 1.0, 0.0, 0.5 -> (2 + 0 + 0.5) / 4
    assert scores.table["overall_score"].iloc[0] == pytest.approx(0.625)
    assert reward.table["reward"].iloc[0] == pytest.approx(0.625)


def test_rubric_parsing_names_the_bad_line() -> None:
    assert parse_rubric("a | 2 | first\n\nb | 0.5 | second") == [
        {"name": "a", "description": "first", "weight": 2.0},
        {"name": "b", "description": "second", "weight": 0.5}]
    with pytest.raises(ValueError, match="criterion line 2 is not 'name | weight | description'"):
        parse_rubric("a | 1 | x\nno separators here")
    with pytest.raises(ValueError, match="line 1: weight 'heavy' is not a number"):
        parse_rubric("a | heavy | x")


def test_text_checks_flag_and_exclude() -> None:
    prompts = pd.Series({"p1": "Explain how to merge two sorted arrays quickly.",
                         "p2": "How do I store passwords safely?"})
    long = "Walk both arrays with two indices and take the smaller head each time; O(n + m)."
    rows = [("p1", "good", long, 60.0), ("p2", "good", "Hash them with argon2id and a salt, "
                                                    "then store only the hash, never the key.", 60.0),
            ("p1", "lazy", "ok", 5.0), ("p2", "lazy", "How do I store passwords safely?", 5.0),
            ("p1", "copier", long, 50.0), ("p2", "copier", "", 50.0)]
    data = pd.DataFrame(rows, columns=["task", "worker", "label", "lead_time_s"])
    res = run_text_layers(data, prompts, QCConfig(min_chars=20, min_speed_ratio=0))
    flags = dict(zip(zip(res.judgments["task"], res.judgments["worker"]), res.judgments["flag"]))
    assert flags[("p1", "good")] is None and flags[("p1", "copier")] == "duplicate"
    assert flags[("p1", "lazy")].startswith("too_short: 2 < 20")
    assert flags[("p2", "lazy")] == "copied_from_prompt"
    assert flags[("p2", "copier")] == "empty" and flags[("p2", "good")] is None
    assert res.workers["excluded"].to_dict() == {"copier": True, "good": False, "lazy": True}
    assert res.outcome[["task", "worker"]].values.tolist() == [["p1", "good"], ["p2", "good"]]
    assert next(c for c in res.checks if c.name == "coverage").passed
