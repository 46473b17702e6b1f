"""QC functions on tiny hand-made data whose answers are known by hand."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from qc.agreement import krippendorff_alpha
from qc.aggregation import DawidSkene, MajorityVote
from qc.behaviour import behaviour_stats
from annoflow.results import QCStats
from qc.checks import CheckResult, gate
from qc.contract import check_annotations
from qc.gold import gold_accuracy, wilson_lower
from qc.pipeline import QCConfig, run_layers
from annoflow.errors import QCGateFailed


def frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["task", "worker", "label", "lead_time_s"][: len(rows[0])]
    return pd.DataFrame(rows, columns=cols)


def test_contract_rejects_missing_columns_and_double_judgments() -> None:
    with pytest.raises(ValueError, match=r"missing column\(s\) \['label'\]"):
        check_annotations(pd.DataFrame({"task": [1], "worker": ["w"]}))
    with pytest.raises(ValueError, match="judged task 't1' more than once"):
        check_annotations(frame([("t1", "w", "a"), ("t1", "w", "b")]))
    with pytest.raises(ValueError, match="'label' has 1 missing"):
        check_annotations(frame([("t1", "w", None)]))


def test_gold_accuracy_counts_and_wilson_bound() -> None:
    data = frame([("g1", "w1", "a"), ("g2", "w1", "b"), ("g3", "w1", "a"), ("g4", "w1", "a"),
                  ("g1", "w2", "b"), ("g2", "w2", "a"), ("x", "w3", "a")])
    gold = pd.DataFrame({"task": ["g1", "g2", "g3", "g4"], "label": ["a", "b", "a", "b"]})
    acc = gold_accuracy(data, gold)
    assert acc.loc["w1", ["n_gold", "n_correct"]].tolist() == [4, 3]
    assert acc.loc["w1", "accuracy"] == 0.75
    assert acc.loc["w2", "accuracy"] == 0.0
    assert acc.loc["w3", "n_gold"] == 0 and np.isnan(acc.loc["w3", "accuracy"])
    # Wilson 95 % lower bound of 3/4 is 0.3006 (textbook value)
    assert acc.loc["w1", "accuracy_ci_low"] == pytest.approx(0.3006, abs=1e-3)
    assert wilson_lower(np.array([0]), np.array([0]))[0] == 0.0


def test_behaviour_speed_and_straight_lining() -> None:
    rows = [(f"t{i}", "steady", "a" if i % 2 else "b", 60.0) for i in range(6)]
    rows += [(f"t{i}", "fast", "a", 3.0) for i in range(6)]
    rows += [(f"t{i}", "slow", "b" if i % 3 else "a", 120.0) for i in range(6)]
    b = behaviour_stats(frame(rows))
    assert b.loc["fast", "median_lead_time_s"] == 3.0
    assert b.loc["fast", "speed_ratio"] == pytest.approx(3 / 60)
    assert b.loc["fast", "top_label_share"] == 1.0
    assert b.loc["steady", "top_label_share"] == 0.5


def test_alpha_perfect_and_known_value() -> None:
    perfect = frame([("t1", "w1", "a"), ("t1", "w2", "a"), ("t2", "w1", "b"), ("t2", "w2", "b")])
    assert krippendorff_alpha(perfect) == 1.0
    # two coders, four units; nominal alpha by hand: o = [[2,2],[2,2]] -> D_o = 4/8,
    # n_a = n_b = 4 -> D_e = 2*4*4/(8*7) -> alpha = 1 - (4/8)/(32/56) = 0.125
    data = frame([("u1", "c1", "a"), ("u1", "c2", "a"), ("u2", "c1", "a"), ("u2", "c2", "b"),
                  ("u3", "c1", "b"), ("u3", "c2", "a"), ("u4", "c1", "b"), ("u4", "c2", "b")])
    assert krippendorff_alpha(data) == pytest.approx(0.125)
    # single judgments are not pairable: undefined
    assert np.isnan(krippendorff_alpha(frame([("t1", "w1", "a"), ("t2", "w1", "b")])))


def test_majority_vote_and_confidence() -> None:
    data = frame([("t1", "w1", "a"), ("t1", "w2", "a"), ("t1", "w3", "b"),
                  ("t2", "w1", "b"), ("t2", "w2", "b"), ("t2", "w3", "b")])
    mv = MajorityVote().fit(data)
    assert mv.labels_.to_dict() == {"t1": "a", "t2": "b"}
    assert mv.confidence_["t1"] == pytest.approx(2 / 3)
    assert mv.confidence_["t2"] == 1.0


def test_dawid_skene_trusts_the_reliable_workers() -> None:
    # good1, good2 agree with truth; bad always contradicts them. Where good1 and bad
    # face off alone, DS must side with good1 (MV would tie).
    truth = {f"t{i}": "ab"[i % 2] for i in range(20)}
    rows = []
    for t, y in truth.items():
        rows += [(t, "good1", y), (t, "good2", y), (t, "bad", "b" if y == "a" else "a")]
    rows += [("x1", "good1", "a"), ("x1", "bad", "b")]
    ds = DawidSkene().fit(frame(rows))
    assert ds.labels_["x1"] == "a"
    assert ds.confidence_["x1"] > 0.9
    assert all(ds.labels_[t] == y for t, y in truth.items())
    assert ds.errors_.loc[("bad", "a"), "b"] > 0.9


def test_pipeline_excludes_spammer_and_aggregates_the_rest() -> None:
    rng = np.random.default_rng(0)
    truth = {f"t{i}": "ab"[i % 2] for i in range(40)}
    gold = {f"g{i}": "ba"[i % 2] for i in range(10)}
    flip = {"a": "b", "b": "a"}
    rows = []
    for n, (t, y) in enumerate({**truth, **gold}.items()):
        for k, w in enumerate(("e1", "e2", "e3")):
            wrong = (n + k) % 10 == 0  # each expert errs on a different 10 % of items
            rows.append((t, w, flip[y] if wrong else y, 60.0))
        rows.append((t, "spam", rng.choice(["a", "b"]), 2.0))
    data = frame(rows)
    data["is_gold"] = data["task"].isin(gold)
    res = run_layers(data, pd.Series(gold), QCConfig(min_gold_accuracy=0.7))
    assert res.workers["excluded"].to_dict() == {"e1": False, "e2": False, "e3": False, "spam": True}
    assert "of the crowd's" in res.workers.loc["spam", "exclusion_reason"]
    assert not res.judgments.loc[res.judgments["worker"] == "spam", "excluded"].eq(False).any()
    agg = res.outcome.set_index("task")
    assert set(agg.index) == set(truth)  # gold items are not delivered
    assert (agg["label"] == pd.Series(truth).reindex(agg.index)).mean() >= 0.95
    assert res.stats().annotators_excluded == 1
    gate(res.checks, res.stats())  # nothing blocking


def test_gate_raises_with_failed_checks_and_stats() -> None:
    checks = [CheckResult("coverage", "L5", False, "error", "10 of 100 items"),
              CheckResult("agreement", "L3", False, "warning", "alpha low")]
    stats = QCStats(krippendorff_alpha=None, agreement_level="nominal", annotators=3,
                    annotators_excluded=0, annotations=30, judgments=30, judgments_kept=30,
                    items_delivered=10, items_unresolved=90)
    with pytest.raises(QCGateFailed) as exc:
        gate(checks, stats)
    assert [c.name for c in exc.value.failed_checks] == ["coverage"]
    assert exc.value.stats["items_unresolved"] == 90  # as JSON-ready figures
    assert "nothing was delivered" in str(exc.value)


def _straight_data(skew: float, liner: bool, n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Five honest workers on ``n`` tasks whose true label is "a" with probability ``skew``
    (they are right 90% of the time), and a sixth who always answers "a" if ``liner``."""
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(n) < skew, "a", "b")
    rows = []
    for w in range(5):
        for i, t in enumerate(truth):
            right = rng.random() < 0.9
            rows.append((f"t{i}", f"w{w}", t if right else ("b" if t == "a" else "a"), 30.0))
    if liner:
        rows += [(f"t{i}", "liner", "a", 30.0) for i in range(n)]
    return frame(rows)


def test_a_straight_liner_is_excluded_and_reported() -> None:
    cfg = QCConfig(min_gold_accuracy=0.0, max_top_label_share=0.95)
    res = run_layers(_straight_data(0.5, liner=True), pd.Series(dtype=str), cfg)
    assert res.excluded_workers.index.tolist() == ["liner"]
    assert res.workers.at["liner", "exclusion_reason"].startswith(
        "straight-lining: answered 'a' to 100% of 40 judgments (the others: ")
    check = next(c for c in res.checks if c.name == "straight_lining")
    assert not check.passed and check.metrics["flagged"] == ["liner"] and check.layer == "L1"
    # off when the spec says so
    off = run_layers(_straight_data(0.5, liner=True), pd.Series(dtype=str),
                     QCConfig(min_gold_accuracy=0.0, max_top_label_share=None))
    assert off.excluded_workers.empty


def test_one_answer_that_is_simply_common_is_not_straight_lining() -> None:
    """Work where nearly every true answer is "a": everyone answers "a" nearly always."""
    cfg = QCConfig(min_gold_accuracy=0.0, max_top_label_share=0.95)
    res = run_layers(_straight_data(1.0, liner=True), pd.Series(dtype=str), cfg)
    assert res.excluded_workers.empty
    assert next(c for c in res.checks if c.name == "straight_lining").passed
    # and too few judgments to tell
    few = run_layers(_straight_data(0.5, liner=True, n=10), pd.Series(dtype=str), cfg)
    assert few.excluded_workers.empty
