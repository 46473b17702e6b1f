"""Scoping: the plan's figures and warnings on hand-made inputs."""
from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from annoflow.errors import DataError
from annoflow.plan import build_plan
from annoflow.roster import rank_experts, select_roster
from annoflow.spec import parse_spec
from connectors.talent_pool import load_talent_pool
from tasks.scoping import scope

REPO = Path(__file__).resolve().parents[2]


def spec(**changes):
    doc = yaml.safe_load((REPO / "configs/requests/demo.yaml").read_text())
    doc.update(changes)
    return parse_spec(doc, base_dir=REPO)


ROSTER = pd.DataFrame({"expert_id": ["a", "b"], "hourly_rate_usd": [60.0, 120.0],
                       "weekly_hours": [10.0, 10.0]})


def test_plan_figures() -> None:
    s = spec()
    p = build_plan(s, n_items=100, n_gold=10, roster=ROSTER, eligible=2, quarantined=0)
    # gold is a share of every expert's stream: enough for min_gold_judgments in 20 judgments
    assert p.gold_rate == pytest.approx(max(s.gold.fraction, s.qc.min_gold_judgments / 20))
    assert p.judgments == math.ceil(100 * 3 / (1 - p.gold_rate))
    hours = p.judgments * 90 / 3600
    assert p.expert_hours == pytest.approx(hours)
    # each expert does half the hours at their own rate
    assert p.expected_cost_usd == pytest.approx(hours / 2 * 60 + hours / 2 * 120)
    assert p.weeks_to_finish == pytest.approx(hours / 20)
    assert any("talent pool thin" in w for w in p.warnings)
    # 2 experts doing ~50 probes each would see the same 10 gold items again and again
    assert any("only 10 gold items for about" in w for w in p.warnings)


def test_gold_rate_is_capped_and_absent_without_gold() -> None:
    p = build_plan(spec(), n_items=100, n_gold=0, roster=ROSTER, eligible=2, quarantined=0)
    assert p.gold_rate == 0 and p.judgments == 300
    greedy = spec(qc={**spec().qc.model_dump(), "min_gold_judgments": 19})
    assert build_plan(greedy, n_items=100, n_gold=50, roster=ROSTER, eligible=2,
                      quarantined=0).gold_rate == 0.5


def test_deadline_and_budget_warnings() -> None:
    s = spec(deadline="2026-12-03", budget_usd=100)
    p = build_plan(s, n_items=2000, n_gold=10, roster=ROSTER, eligible=20, quarantined=0,
                   today=date(2026, 11, 26))
    hours = p.judgments * 90 / 3600  # 7 days at 10 h/week per expert
    needed = math.ceil(hours / (10 * 7 / 7))
    assert p.experts_needed_by_deadline == needed
    assert any(w.startswith(f"deadline infeasible: {needed} experts needed by 2026-12-03")
               for w in p.warnings)
    assert any(w.startswith("budget exceeded") for w in p.warnings)
    late = build_plan(spec(deadline="2026-01-01"), n_items=1, n_gold=10, roster=ROSTER,
                      eligible=20, quarantined=0, today=date(2026, 11, 26))
    assert "deadline 2026-01-01 has already passed" in late.warnings


def test_dynamic_overlap_shows_the_most_it_can_cost() -> None:
    base = spec()
    dynamic = spec(workforce={**base.workforce.model_dump(), "max_annotators_per_item": 5},
                   qc={**base.qc.model_dump(), "target_confidence": 0.8})
    p = build_plan(dynamic, n_items=100, n_gold=10, roster=ROSTER, eligible=20, quarantined=0)
    plain = build_plan(base, n_items=100, n_gold=10, roster=ROSTER, eligible=20, quarantined=0)
    assert p.expected_cost_usd == plain.expected_cost_usd  # the spec's overlap is expected
    assert p.most_cost_usd == pytest.approx(plain.expected_cost_usd * 5 / 3)
    assert "3 per item, up to 5 on unsure items" in p.to_text()
    assert f"at most ${p.most_cost_usd:,.0f} if every item needed 5" in p.to_text()
    tight = spec(workforce=dynamic.workforce.model_dump(), qc=dynamic.qc.model_dump(),
                 budget_usd=plain.expected_cost_usd * 1.2)
    warned = build_plan(tight, n_items=100, n_gold=10, roster=ROSTER, eligible=20, quarantined=0)
    assert any(w.startswith("budget at risk: if every item needed 5 judgments")
               for w in warned.warnings)
    assert not any("budget" in w for w in plain.warnings)


def test_roster_ranking_filters_and_orders() -> None:
    pool = load_talent_pool(str(REPO / "data/talent_pool.csv"))
    s = spec()
    ranked = rank_experts(pool, s)
    assert all("software-engineering" in d for d in ranked["domains"])
    assert all("en" in langs for langs in ranked["languages"])
    assert (ranked["vetting_score"] >= 0.6).all()
    assert ranked["vetting_score"].is_monotonic_decreasing
    assert len(select_roster(ranked, s)) == 8
    with pytest.raises(DataError, match="talent pool too thin: 0 expert"):
        rank_experts(pool, spec(domain="astrophysics"))


def test_scope_reads_the_demo() -> None:
    sc = scope(spec())
    assert sc.plan.items == 200 and sc.plan.gold_items == 39 and sc.plan.roster_size == 8
    assert sc.items["ref"].is_unique and sc.items["item_id"].is_unique
    assert not {"name", "email"} <= set(sc.plan.model_dump())
