"""Live removal rules (qc.live): confident evidence only."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qc.gold import wilson_interval
from qc.live import LiveRules, removals, reviewed

RULES = LiveRules(min_gold_accuracy=0.7, min_speed_ratio=0.25, min_judgments_for_speed=10)


def _judgments(worker: str, n: int, *, correct: int, lead: float, gold: bool = True,
               start: int = 0) -> list[dict]:
    return [{"task": f"g{start + i}" if gold else f"t{start + i}", "worker": worker,
             "field": "", "label": "a" if i < correct else "b", "lead_time_s": lead,
             "is_gold": gold} for i in range(n)]


def _gold(n: int) -> pd.DataFrame:
    return pd.DataFrame({"task": [f"g{i}" for i in range(n)], "field": "", "label": "a"})


def test_a_coin_flipper_is_removed_once_the_interval_is_under_the_bar() -> None:
    # 11 of 22 right: the 95% Wilson upper bound is under 0.70
    assert wilson_interval(np.array([11]), np.array([22]))[1][0] < 0.7
    rows = _judgments("flip", 22, correct=11, lead=60) + _judgments("good", 22, correct=20, lead=60)
    out = removals(pd.DataFrame(rows), _gold(22), RULES)
    assert list(out.index) == ["flip"] and out.loc["flip", "rule"] == "gold"
    assert "11/22" in out.loc["flip", "reason"]


def test_a_point_estimate_under_the_bar_is_not_enough() -> None:
    # 3 of 5 (60%): under 0.70, but the interval reaches far above it
    rows = _judgments("thin", 5, correct=3, lead=60) + _judgments("good", 5, correct=5, lead=60)
    assert removals(pd.DataFrame(rows), _gold(5), RULES).empty


def test_only_good_experts_means_no_removal() -> None:
    rows = [r for w in ("a", "b", "c", "d") for r in _judgments(w, 30, correct=27, lead=50)]
    assert removals(pd.DataFrame(rows), _gold(30), RULES).empty


def test_a_fast_expert_is_removed_by_speed_after_enough_judgments() -> None:
    rows = (_judgments("fast", 10, correct=10, lead=2, gold=False)
            + _judgments("b", 10, correct=10, lead=60, gold=False)
            + _judgments("c", 10, correct=10, lead=70, gold=False))
    out = removals(pd.DataFrame(rows), _gold(0), RULES)
    assert list(out.index) == ["fast"] and out.loc["fast", "rule"] == "speed"
    # nine judgments are not enough yet
    early = pd.DataFrame(rows)
    early = early[~((early["worker"] == "fast") & (early["task"] == "t9"))]
    assert removals(early, _gold(0), RULES).empty


def test_speed_needs_a_crowd_of_at_least_two_others() -> None:
    rows = _judgments("fast", 12, correct=12, lead=2, gold=False) + \
        _judgments("b", 12, correct=12, lead=60, gold=False)
    assert removals(pd.DataFrame(rows), _gold(0), RULES).empty


def test_several_fields_per_judgment_are_judged_apart() -> None:
    """A rubric's criteria are fields of one judgment: gold per (task, field)."""
    rows = [{"task": f"g{i}", "worker": w, "field": f, "label": "a" if w == "good" else "b",
             "lead_time_s": 60.0, "is_gold": True}
            for i in range(25) for w in ("good", "bad") for f in ("x", "y")]
    gold = pd.DataFrame([{"task": f"g{i}", "field": f, "label": "a"}
                         for i in range(25) for f in ("x", "y")])
    out = removals(pd.DataFrame(rows), gold, RULES)
    assert list(out.index) == ["bad"] and "0/50" in out.loc["bad", "reason"]


def test_gold_needs_its_minimum_of_judgments_first() -> None:
    # 0 of 3 right: the interval reaches only 56 %, but three looks are not enough yet
    rows = _judgments("unlucky", 3, correct=0, lead=60) + _judgments("good", 3, correct=3, lead=60)
    assert removals(pd.DataFrame(rows), _gold(3), RULES).empty
    rows = _judgments("bad", 5, correct=0, lead=60) + _judgments("good", 5, correct=5, lead=60)
    assert list(removals(pd.DataFrame(rows), _gold(5), RULES).index) == ["bad"]


def test_review_vouches_for_a_normal_pace_and_holds_a_fast_one_before_any_crowd() -> None:
    # two judgments each from the others: no crowd for removal yet, enough to hold a clicker
    rows = (_judgments("fast", 8, correct=4, lead=0.3, gold=False)
            + _judgments("b", 2, correct=2, lead=40, gold=False)
            + _judgments("c", 1, correct=1, lead=55, gold=False))
    df = pd.DataFrame(rows)
    assert removals(df, _gold(0), RULES).empty
    assert reviewed(df, RULES) == {"b": 2, "c": 1}


def test_an_expert_alone_is_held_to_the_plans_pace() -> None:
    # nobody to compare with: the plan's time per judgment stands in for the crowd, so an
    # honest first expert is not kept waiting and a clicker who starts first gets no pass
    plan = LiveRules(min_gold_accuracy=0.7, min_speed_ratio=0.25, min_judgments_for_speed=10,
                     expected_s=60)
    honest = pd.DataFrame(_judgments("first", 12, correct=12, lead=45, gold=False))
    assert reviewed(honest, plan) == {"first": 12}
    clicker = pd.DataFrame(_judgments("first", 12, correct=6, lead=2, gold=False))
    assert reviewed(clicker, plan) == {}
    # without a plan's pace, an expert alone is vouched for
    alone = pd.DataFrame(_judgments("first", 12, correct=12, lead=0.5, gold=False))
    assert reviewed(alone, RULES) == {"first": 12}


def test_review_with_the_speed_rule_off_holds_nobody() -> None:
    rows = pd.DataFrame(_judgments("fast", 8, correct=8, lead=0.3, gold=False)
                        + _judgments("b", 4, correct=4, lead=40, gold=False))
    off = LiveRules(min_gold_accuracy=0.7, min_speed_ratio=0, min_judgments_for_speed=10)
    assert reviewed(rows, off) == {"fast": 8, "b": 4}
    assert reviewed(pd.DataFrame(columns=["task", "worker", "lead_time_s"]), RULES) == {}


def test_similar_paces_all_count_as_reviewed() -> None:
    rows = [r for w, lead in (("a", 30), ("b", 45), ("c", 20), ("d", 60))
            for r in _judgments(w, 5, correct=5, lead=lead, gold=False)]
    assert reviewed(pd.DataFrame(rows), RULES) == {"a": 5, "b": 5, "c": 5, "d": 5}


def test_a_bound_just_under_the_bar_does_not_read_as_equal_to_it() -> None:
    # 7 of 15 right: the upper bound is 69.x %, which rounds to the 70 % bar
    rows = _judgments("flip", 15, correct=7, lead=60) + _judgments("good", 15, correct=15, lead=60)
    out = removals(pd.DataFrame(rows), _gold(15), LiveRules(
        min_gold_accuracy=0.7, min_speed_ratio=0.25, min_judgments_for_speed=10))
    reason = out.loc["flip", "reason"]
    assert "< 70%" in reason and "up to 70%" not in reason and "up to 69." in reason, reason
