"""Scoping: the plan's figures and warnings on hand-made inputs."""
from __future__ import annotations

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
    p = build_plan(spec(), n_items=100, n_gold=10, roster=ROSTER, eligible=2, quarantined=0)
    assert p.judgments == 100 * 3 + 10 * 2
    assert p.expert_hours == pytest.approx(320 * 90 / 3600)
    # each expert does half the hours at their own rate
    assert p.expected_cost_usd == pytest.approx(8 / 2 * 60 + 8 / 2 * 120)
    assert p.weeks_to_finish == pytest.approx(8 / 20)
    assert any("talent pool thin" in w for w in p.warnings)


def test_deadline_and_budget_warnings() -> None:
    s = spec(deadline="2026-12-03", budget_usd=100)
    p = build_plan(s, n_items=2000, n_gold=10, roster=ROSTER, eligible=20, quarantined=0,
                   today=date(2026, 11, 26))
    # 6020 judgments * 90 s = 150.5 h; 7 days at 10 h/week per expert -> 16 experts
    assert p.experts_needed_by_deadline == 16
    assert any(w.startswith("deadline infeasible: 16 experts needed by 2026-12-03") for w in p.warnings)
    assert any(w.startswith("budget exceeded") for w in p.warnings)
    late = build_plan(spec(deadline="2026-01-01"), n_items=1, n_gold=10, roster=ROSTER,
                      eligible=20, quarantined=0, today=date(2026, 11, 26))
    assert "deadline 2026-01-01 has already passed" in late.warnings


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
    assert sc.plan.items == 200 and sc.plan.gold_items == 23 and sc.plan.roster_size == 8
    assert sc.items["ref"].is_unique and sc.items["item_id"].is_unique
    assert not {"name", "email"} <= set(sc.plan.model_dump())
