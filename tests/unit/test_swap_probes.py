"""Swap probes (issue 10, L1): a share of the pairwise items is shown a second time, the
two responses the other way round, to each expert who judged the item; how often they give
the same answer both ways is their self-consistency. The probes are tasks of their own,
answers to them are mapped back to the item's terms at sync, kept apart from the
judgments, and reported per annotator (the serving rule is tested live, in
tests/integration/test_requeue.py)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from annoflow.errors import SpecError
from annoflow.items import prepare_items, swap_twins
from annoflow.results import AnnotatorStats
from annoflow.spec import parse_spec
from qc.behaviour import swap_consistency
from qc.pipeline import QCConfig, run_layers
from tasks.production import annotation_rows, import_once, split_twins
from tests.unit.test_display_order import REPO, _Imports, _items, _spec, left_clicks

SIDES = {"a": "left", "b": "right"}


def _with_share(share: float):
    spec = _spec()
    return spec.model_copy(update={"qc": spec.qc.model_copy(update={"swap_probe_share": share})})


def test_a_share_of_the_work_items_gets_a_probe_shown_the_other_way_round() -> None:
    spec = _with_share(0.1)
    items = prepare_items(spec, _items(400), None, ref_key=b"k").items
    twins = swap_twins(spec, items)
    work = items[~items["is_gold"]]
    assert len(twins) == int(np.ceil(0.1 * len(work)))
    assert not twins["is_gold"].any() and set(twins["twin_of"]) <= set(work["ref"])
    by_ref = items.set_index("ref")
    assert (twins["swapped"].to_numpy() == ~by_ref.loc[twins["twin_of"], "swapped"].to_numpy()).all()
    assert not set(twins["ref"]) & set(items["ref"]) and twins["ref"].is_unique
    assert swap_twins(spec, items).equals(twins)  # the same probes however often drawn
    assert swap_twins(_with_share(0.0), items).empty
    # imported among the work, the pair shown the other way round from its item's task
    ls = _Imports()
    import_once(ls, 1, spec, pd.concat([items, twins.drop(columns="twin_of")], ignore_index=True))
    shown = {t["meta"]["ref"]: t["data"] for t in ls.tasks}
    for r in twins.itertuples():
        assert shown[r.ref]["response_a"] == shown[r.twin_of]["response_b"]
        assert shown[r.ref]["response_b"] == shown[r.twin_of]["response_a"]


def test_only_side_by_side_types_take_swap_probes() -> None:
    doc = yaml.safe_load((REPO / "configs/requests/likert_rating.yaml").read_text())
    doc.setdefault("qc", {})["swap_probe_share"] = 0.1
    with pytest.raises(SpecError, match="swap_probe_share: task type likert_rating does not show"):
        parse_spec(doc, base_dir=REPO)
    doc = yaml.safe_load((REPO / "configs/requests/demo.yaml").read_text())
    doc.setdefault("qc", {})["swap_probe_share"] = 0.9
    with pytest.raises(SpecError, match="qc.swap_probe_share"):
        parse_spec(doc, base_dir=REPO)


def test_an_answer_to_a_probe_is_mapped_back_and_kept_apart_from_the_judgments() -> None:
    """The item is shown as is, its probe the other way round: an expert who clicks the
    left response both times has said 'a' then 'b' about the item."""
    spec = _with_share(0.5)
    rows, _ = annotation_rows(left_clicks(("item", "probe")), refs={"item": ("i1", False), "probe": ("i1", False)},
                              experts={7: "ex-7"}, spec=spec, swapped=frozenset({"probe"}),
                              twins=frozenset({"probe"}))
    work, probes = split_twins(rows)
    assert list(work["ls_task_id"]) == [1] and list(probes["ls_task_id"]) == [2]
    assert json.loads(work["answer_json"].iloc[0]) == {"preference": "a"}
    assert json.loads(probes["answer_json"].iloc[0]) == {"preference": "b"}
    # rows synced before probes existed have no flag: they are judgments
    assert len(split_twins(rows.drop(columns="twin"))[0]) == 2


def _campaign(seed: int, n_items: int = 240, k: int = 3, n_workers: int = 10,
              biased: str = "w03", share: float = 0.3):
    """Honest workers right 85% of the time, each answer drawn afresh; ``biased`` clicks
    the left response 80% of the time. Each item is shown in a random order; a share of
    them once more, the other way round, to each worker who judged it."""
    rng = np.random.default_rng(seed)
    workers = [f"w{i:02d}" for i in range(n_workers)]
    rows, probes = [], []

    def said(w: str, better: str, swap: bool) -> str:
        if w == biased and rng.random() < 0.8:
            return "b" if swap else "a"  # whatever is on the left
        return better if rng.random() < 0.85 else ("b" if better == "a" else "a")

    for i in range(n_items):
        better, swap = ("a" if rng.random() < 0.5 else "b"), bool(rng.random() < 0.5)
        judges = rng.choice(workers, k, replace=False)
        for w in judges:
            rows.append((f"t{i}", w, "preference", said(w, better, swap), swap))
        if rng.random() < share:
            for w in judges:
                probes.append((f"t{i}", w, "preference", said(w, better, not swap)))
    return (pd.DataFrame(rows, columns=["task", "worker", "field", "label", "swapped"]),
            pd.DataFrame(probes, columns=["task", "worker", "field", "label"]))


def test_self_consistency_is_counted_per_worker_and_the_left_clicker_has_the_least() -> None:
    data, probes = _campaign(5)
    out = swap_consistency(data, probes)
    for w, r in out.iterrows():  # by hand: the same label on the item and on its probe
        mine = data[data["worker"] == w].set_index("task")["label"]
        theirs = probes[probes["worker"] == w].set_index("task")["label"]
        assert r["swap_probes"] == len(theirs)
        assert r["swap_consistency"] == pytest.approx((mine.loc[theirs.index] == theirs).mean(),
                                                      abs=1e-12)
    assert out["swap_consistency"].idxmin() == "w03"
    # a probe of an item the worker did not judge says nothing of them
    stray = pd.DataFrame([("t0", "nobody", "preference", "a")], columns=probes.columns)
    assert "nobody" not in swap_consistency(data, pd.concat([probes, stray])).index
    assert swap_consistency(data, probes.iloc[:0]).empty


def test_qc_reports_it_per_annotator_and_in_a_check_and_counts_no_probe_as_a_judgment() -> None:
    data, probes = _campaign(6)
    cfg = QCConfig(min_gold_accuracy=0.0, sides=SIDES)
    res = run_layers(data, pd.Series(dtype=str), cfg, swap_probes=probes)
    plain = run_layers(data, pd.Series(dtype=str), cfg)
    assert res.outcome.equals(plain.outcome)  # the probes decide nothing
    assert res.stats().judgments == plain.stats().judgments
    check = next(c for c in res.checks if c.name == "swap_consistency")
    assert check.layer == "L1" and check.passed and check.metrics["probes"] == len(probes)
    by = check.metrics["by_annotator"]
    assert sum(v["probes"] for v in by.values()) == len(probes)
    stats = {a.annotator: a for a in res.stats().annotators_detail}
    for w, v in by.items():
        assert isinstance(stats[w], AnnotatorStats)
        assert stats[w].swap_probes == v["probes"]
        assert stats[w].swap_consistency == pytest.approx(v["consistency"], abs=1e-12)
    assert not any(c.name == "swap_consistency" for c in plain.checks)
    from qc.report import qc_report_html
    html = qc_report_html(title="T", request_id="r", result=res, stats=res.stats(),
                          names={w: w.replace("w", "ann-") for w in res.workers.index},
                          min_gold_accuracy=0.7)
    assert 'aria-label="Self-consistency: same answer with the sides swapped' in html
