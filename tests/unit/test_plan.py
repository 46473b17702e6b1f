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
from annoflow.roster import select_roster
from annoflow.spec import parse_spec
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


def test_swap_probes_are_paid_answers_and_the_plan_says_how_many() -> None:
    probed = spec(qc={**spec().qc.model_dump(), "swap_probe_share": 0.1})
    p = build_plan(probed, n_items=95, n_gold=0, roster=ROSTER, eligible=2, quarantined=0)
    assert p.swap_probe_answers == 10 * 3 and p.judgments == 95 * 3 + 30
    assert "30 answers to swap probes" in p.to_text()
    assert build_plan(spec(), n_items=95, n_gold=0, roster=ROSTER, eligible=2,
                      quarantined=0).swap_probe_answers == 0


def test_an_infeasible_deadline_or_budget_says_what_would_fix_it() -> None:
    s = spec(deadline="2026-12-03", budget_usd=100)
    # the two on the roster, and two more eligible: 30 h/week more, cheaper
    shortlist = pd.concat([ROSTER, pd.DataFrame({
        "expert_id": ["c", "d"], "hourly_rate_usd": [20.0, 30.0],
        "weekly_hours": [10.0, 20.0]})], ignore_index=True)
    p = build_plan(s, n_items=300, n_gold=10, roster=ROSTER, eligible=4, quarantined=0,
                   today=date(2026, 11, 26), shortlist=shortlist)
    hours = p.judgments * 90 / 3600  # 7 days, 20 h/week together
    assert hours > 20 and hours <= 50   # (the four together could do it)
    needed = math.ceil(hours / (10 * 7 / 7))
    assert p.experts_needed_by_deadline == needed
    deadline, budget = p.infeasible
    assert deadline.startswith(f"the deadline cannot be met: {hours:,.0f} expert-hours are "
                               f"needed and the roster of 2 has 20 h/week left")
    fix_day = date(2026, 11, 26) + pd.Timedelta(days=math.ceil(hours / 20 * 7))
    assert f"a deadline on or after {fix_day.date() if hasattr(fix_day, 'date') else fix_day}" \
        in deadline
    enough = next(i for i, h in enumerate([10, 20, 30, 50], start=1) if h >= hours)
    assert f"max_experts {enough}" in deadline
    assert budget.startswith(f"the budget cannot cover the work: the expected cost is "
                             f"${p.expected_cost_usd:,.0f}, over the $100 budget")
    assert f"a budget of at least ${math.ceil(p.expected_cost_usd):,}" in budget
    assert "annotators_per_item 2" in budget
    assert p.to_text().count("infeasible:") == 2
    late = build_plan(spec(deadline="2026-01-01"), n_items=1, n_gold=10, roster=ROSTER,
                      eligible=20, quarantined=0, today=date(2026, 11, 26))
    assert late.infeasible == ["the deadline 2026-01-01 has already passed. What would fix "
                               "it: a deadline after 2026-11-26"]
    fine = build_plan(spec(deadline="2027-06-01", budget_usd=10**6), n_items=200, n_gold=10,
                      roster=ROSTER, eligible=20, quarantined=0, today=date(2026, 11, 26))
    assert fine.infeasible == []


def test_scope_refuses_an_infeasible_request_and_names_the_fix() -> None:
    with pytest.raises(DataError, match=r"cannot be done as asked; nothing was created:\n"
                                        r"  the budget cannot cover the work.*What would fix "
                                        r"it: a budget of at least"):
        scope(spec(budget_usd=10))


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
    from tasks.scoping import rank_pool
    from connectors.state import StateStore
    from annoflow.settings import get_settings
    s = spec()
    ranked, eligible = rank_pool(s, StateStore(get_settings().state_url))
    pool = pd.read_csv(REPO / "data/talent_pool.csv").set_index("expert_id")
    fits = pool[pool["domains"].str.split(";").map(lambda d: "software-engineering" in d)
                & pool["languages"].str.split(";").map(lambda ls: "en" in ls)
                & (pool["vetting_score"] >= 0.6)]
    assert eligible == len(ranked) == len(fits) and set(ranked["expert_id"]) == set(fits.index)
    assert ranked["score"].is_monotonic_decreasing
    assert len(select_roster(ranked, s)) == 8
    with pytest.raises(DataError, match="talent pool too thin: 0 expert"):
        rank_pool(spec(domain="astrophysics"), StateStore(get_settings().state_url))


def test_scope_reads_the_demo() -> None:
    sc = scope(spec())
    assert sc.plan.items == 200 and sc.plan.gold_items == 39 and sc.plan.roster_size == 8
    assert sc.items["ref"].is_unique and sc.items["item_id"].is_unique
    assert not {"name", "email"} <= set(sc.plan.model_dump())
