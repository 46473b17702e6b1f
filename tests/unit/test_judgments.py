"""A campaign never gets stuck on data (issue 9, items 1 and 2).

* Two judgments by one expert on one item (an annotation deleted and submitted again, a task
  imported twice) used to raise in ``qc.contract`` on every run: now the latest counts and
  the others are set aside, with the reason, in the QC checks.
* A result that does not parse (``int("x")`` in rubric grading) used to fail every sync:
  now it is quarantined, kept in the raw zone with the reason, and the sync goes on.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from annoflow.judgments import counted
from annoflow.tasktypes import TASK_TYPES, UnreadableResult, get_task_type
from connectors.label_studio import LSAnnotation, LSTask
from qc.checks import gate
from simulation.workforce import load_profile
from tasks.production import annotation_rows, complete_items
from tasks.quality import assess
from tasks.scoping import scope
from tests.unit.test_good_campaigns import T0, _good_judgments
from tests.unit.test_task_types import SPECS, spec_for


def _campaign(task_type: str, repo):
    spec = spec_for(task_type)
    sc = scope(spec)
    profile = load_profile(repo / "configs/simulation" /
                           ("demo.yaml" if task_type == "pairwise_preference" else SPECS[task_type]))
    truth = pd.read_json(repo / profile.truth, lines=True).set_index("item_id").to_dict("index")
    return spec, sc, _good_judgments(spec, sc.items, sc.roster, truth)


def _resubmit(synced: pd.DataFrame, row: pd.Series, answer_json: str, minutes: int) -> pd.DataFrame:
    again = row.copy()
    again["annotation_id"] = int(synced["annotation_id"].max()) + 1
    again["answer_json"] = answer_json
    again["created_at"] = again["updated_at"] = row["updated_at"] + timedelta(minutes=minutes)
    return pd.concat([synced, again.to_frame().T.astype(synced.dtypes.to_dict())],
                     ignore_index=True)


@pytest.mark.parametrize("task_type", sorted(SPECS))
def test_a_second_judgment_by_the_same_expert_supersedes_the_first(task_type: str, repo) -> None:
    spec, sc, synced = _campaign(task_type, repo)
    first = synced[~synced["is_gold"]].iloc[0]
    other = synced[(synced["item_id"] != first["item_id"])
                   & (synced["answer_json"] != first["answer_json"])].iloc[0]
    # the same expert judges the same item again later, with another answer
    twice = _resubmit(synced, first, other["answer_json"], minutes=90)
    judged, aside = counted(twice)
    assert len(judged) == len(synced) and len(aside) == 1
    assert int(aside.iloc[0]["annotation_id"]) == int(first["annotation_id"])
    kept = judged[(judged["item_id"] == first["item_id"]) & (judged["expert_id"] == first["expert_id"])]
    assert kept["answer_json"].tolist() == [other["answer_json"]]  # the latest counts
    res = assess(spec, sc.items, twice)  # used to raise ValueError in qc.contract
    gate(res.checks, res.stats())
    check = next(c for c in res.checks if c.name == "judgments_set_aside")
    assert check.metrics["superseded"] == 1 and check.severity == "warning"
    assert f"later annotation {int(twice['annotation_id'].max())}" in check.metrics["examples"][0]["reason"]
    assert str(first["expert_id"]) not in json.dumps(check.metrics)  # no pool id in what is delivered
    mine = res.judgments[(res.judgments["task"] == first["item_id"])
                         & (res.judgments["worker"] == first["expert_id"])]
    assert len(mine) == len(json.loads(other["answer_json"]))


def test_the_latest_wins_whatever_order_the_rows_come_in(repo) -> None:
    _, _, synced = _campaign("classification", repo)
    row = synced.iloc[3]
    twice = _resubmit(synced, row, json.dumps({"label": "later"}), minutes=5)
    for order in (twice, twice.iloc[::-1], twice.sample(frac=1, random_state=2)):
        judged, _ = counted(order)
        mine = judged[(judged["item_id"] == row["item_id"]) & (judged["expert_id"] == row["expert_id"])]
        assert mine["answer_json"].tolist() == [json.dumps({"label": "later"})]


def _ls_task(results: list) -> LSTask:
    anns = tuple(LSAnnotation(id=100 + i, completed_by=7, result=r, lead_time=30.0,
                              was_cancelled=False, created_at=T0, updated_at=T0)
                 for i, r in enumerate(results))
    return LSTask(id=1, data={}, meta={"ref": "r1"}, overlap=1, updated_at=T0, annotations=anns)


def test_the_issues_unreadable_rating_is_quarantined_and_the_sync_goes_on() -> None:
    spec = spec_for("rubric_grading")
    bad = [{"type": "rating", "from_name": "correctness", "value": {"rating": "x"}}]
    good = get_task_type("rubric_grading").make_result(
        spec.task, {c.name: "4" for c in spec.task.criteria})
    rows, _ = annotation_rows([_ls_task([bad, good])], refs={"r1": ("i1", False)},
                              experts={7: "ex-7"}, spec=spec)
    assert rows["answer_json"].isna().tolist() == [True, False]
    assert "rating" in rows.loc[0, "quarantine"] and "'x'" in rows.loc[0, "quarantine"]
    assert pd.isna(rows.loc[1, "quarantine"])
    assert json.loads(rows.loc[0, "result_json"]) == bad  # kept as it came, for the record
    judged, aside = counted(rows)
    assert judged["annotation_id"].tolist() == [101]
    assert aside["set_aside"].str.startswith("unreadable: ").tolist() == [True]


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
def test_answers_outside_the_questions_are_unreadable(task_type: str) -> None:
    spec = spec_for(task_type)
    tt = get_task_type(task_type)
    q = tt.questions(spec.task)[0]
    for region in ([{"from_name": q.name, "type": "choices", "value": {"choices": ["no-such-label"]}}],
                   [{"from_name": q.name, "type": "rating", "value": {"rating": 99}}],
                   [{"from_name": q.name, "type": "textarea", "value": {"text": [1, 2]}}],
                   [{"from_name": q.name, "type": "pairwise", "value": {"selected": "left"}},
                    "not an object"],
                   [{"from_name": q.name, "type": "choices", "value": ["not", "a", "dict"]}]):
        try:
            answer = tt.read_result(spec.task, region)
        except UnreadableResult:
            continue
        for name, value in answer.items():  # whatever is read is a legal answer
            legal = {x.name: x for x in tt.questions(spec.task)}[name]
            assert isinstance(value, str) and (legal.labels is None or value in legal.labels)


_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=10), inner, max_size=3), max_leaves=12)
_region = st.fixed_dictionaries(
    {}, optional={"from_name": st.sampled_from(["label", "rating", "preference", "correctness",
                                                 "solution", "rubric", "x"]) | st.text(max_size=5),
                  "type": st.sampled_from(["choices", "rating", "pairwise", "textarea", "x"]),
                  "to_name": st.text(max_size=5),
                  "value": _json | st.fixed_dictionaries({}, optional={
                      "choices": _json, "rating": _json, "selected": _json, "text": _json})})


@pytest.mark.parametrize("task_type", sorted(TASK_TYPES))
@settings(max_examples=150, deadline=None)
@given(result=st.lists(_region | _json, max_size=4) | _json)
def test_any_stored_result_is_read_or_quarantined(task_type: str, result) -> None:
    """Whatever a browser stored, reading it gives a legal answer or UnreadableResult."""
    spec = spec_for(task_type)
    tt = get_task_type(task_type)
    questions = {q.name: q for q in tt.questions(spec.task)}
    try:
        answer = tt.read_result(spec.task, result)
    except UnreadableResult:
        return
    for name, value in answer.items():
        assert name in questions and isinstance(value, str)
        assert questions[name].labels is None or value in questions[name].labels


def test_progress_counts_experts_not_annotations(repo) -> None:
    spec, sc, synced = _campaign("classification", repo)
    done = complete_items(synced, sc.items, spec)
    assert done == int((~sc.items["is_gold"]).sum())
    # a resubmission does not count twice toward an item's overlap ...
    row = synced[~synced["is_gold"]].iloc[0]
    assert complete_items(_resubmit(synced, row, row["answer_json"], minutes=1), sc.items, spec) == done
    # ... and an unreadable submission still counts, as Label Studio counts it (it serves the
    # item no more): the campaign cannot wait for a judgment nobody will be served
    bad = synced.astype({"quarantine": object})
    bad.loc[row.name, ["answer_json", "quarantine"]] = [None, "rating: 'x' is not a whole number"]
    assert complete_items(bad, sc.items, spec) == done
    gone = synced.drop(index=row.name)
    assert complete_items(gone, sc.items, spec) == done - 1
    # an expert removed for quality counts for nothing: their items are served again
    assert complete_items(synced, sc.items, spec, removed={row["expert_id"]}) < done
