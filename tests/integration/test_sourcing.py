"""Sourcing from a generated pool of thousands, and the pool learning from a campaign
(issue 8), on the real services, in a state store of the test's own (its pool is not the
demo's, and the other tests' campaigns must not draw on it). The CLI passes the store to
the campaign's runs on the worker, as it passes every submitted setting.

* The demo campaign (a planted spammer among its simulated experts) is sourced from the
  demo pool plus 3,000 generated experts; the plan names every chosen expert with the parts
  of their score.
* After it, each rostered expert's quality history holds what QC measured of them, the
  spammer's outcome and reason included, and the ranking for the next campaign differs:
  the order before and after is compared.
"""
from __future__ import annotations

import pandas as pd
import pytest

from connectors.pool_registry import PoolRegistry
from connectors.state import StateStore
from simulation.workforce import assign_behaviours, load_profile
from tests.integration.conftest import REPO, annoflow, last_json, unique_id, write_spec

PROFILE = "configs/simulation/demo.yaml"


@pytest.fixture(scope="module")
def sourced(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sourcing")
    state_url = f"sqlite:///{tmp / 'state.db'}"
    env = {"ANNOFLOW_STATE_URL": state_url}
    generated = tmp / "generated.parquet"
    assert annoflow("pool", "generate", "3000", "--out", str(generated), "--seed", "11").returncode == 0
    for pool in (str(REPO / "data/talent_pool.csv"), str(generated)):
        proc = annoflow("pool", "import", pool, env=env)
        assert proc.returncode == 0, proc.stderr
    rid = unique_id("it-source")
    spec = write_spec(tmp, request_id=rid)
    before = annoflow("validate", str(spec), "--json", env=env)
    assert before.returncode == 0, before.stderr
    try:
        run = annoflow("run", str(spec), "--simulate", PROFILE, "--wait-timeout", "600",
                       "--json", env=env, timeout=700)
        assert run.returncode == 0, run.stderr[-3000:]
        spec2 = write_spec(tmp, request_id=unique_id("it-source-next"))
        after = annoflow("validate", str(spec2), "--json", env=env)
        assert after.returncode == 0, after.stderr
    finally:
        annoflow("cancel", rid, env=env)
    return {"rid": rid, "state_url": state_url, "before": last_json(before),
            "after": last_json(after), "result": last_json(run)}


def test_the_plan_names_each_chosen_expert_with_the_parts_of_their_score(sourced) -> None:
    staffing = sourced["before"]["staffing"]
    assert len(staffing) == 8 and [s["rank"] for s in staffing] == list(range(1, 9))
    scores = [s["score"] for s in staffing]
    assert scores == sorted(scores, reverse=True)
    assert all(set(s["parts"]) == {"domain_fit", "quality", "vetting", "cost", "availability"}
               for s in staffing)
    assert sourced["before"]["eligible_experts"] > 100  # thousands in the pool, by domain
    # before any campaign nobody has a record: quality is the prior for all
    assert {s["parts"]["quality"] for s in staffing} == {0.75}


def test_the_campaign_was_delivered_by_experts_from_the_pool(sourced) -> None:
    result = sourced["result"]
    assert result["delivery_uri"].startswith("s3://") and result["items"] > 0
    state = StateStore(sourced["state_url"])
    roster = state.roster(sourced["rid"])
    assert sorted(roster) == sorted(s["expert_id"] for s in sourced["before"]["staffing"])


def test_quality_measured_in_the_campaign_goes_back_into_the_pool(sourced) -> None:
    registry = PoolRegistry(StateStore(sourced["state_url"]))
    recorded = registry.campaign_quality(sourced["rid"]).set_index("expert_id")
    roster = [s["expert_id"] for s in sourced["before"]["staffing"]]
    assert set(recorded.index) == set(roster)
    assert (recorded["judgments"] > 0).all() and (recorded["gold_judged"] > 0).all()
    sim = assign_behaviours(pd.DataFrame({"expert_id": roster, "ls_user_id": 0}),
                            load_profile(REPO / PROFILE))
    (spammer,) = [e.expert_id for e in sim if e.spammer]
    assert recorded.at[spammer, "outcome"] in ("removed", "excluded")
    assert recorded.at[spammer, "reason"]
    history = {e: registry.quality(e)["software-engineering"] for e in roster}
    for e, h in history.items():  # the history is the campaign's measure, counted once
        assert (h["judgments"], h["gold_judged"], h["campaigns"]) == \
            (recorded.at[e, "judgments"], recorded.at[e, "gold_judged"], 1)
    good = [e for e in roster if e != spammer]
    rate = {e: history[e]["gold_right"] / history[e]["gold_judged"] for e in roster}
    assert rate[spammer] < min(rate[e] for e in good)


def test_the_next_campaigns_ranking_changes_with_what_was_learned(sourced) -> None:
    before = {s["expert_id"]: s for s in sourced["before"]["staffing"]}
    after = {s["expert_id"]: s for s in sourced["after"]["staffing"]}
    sim = assign_behaviours(pd.DataFrame({"expert_id": list(before), "ls_user_id": 0}),
                            load_profile(REPO / PROFILE))
    (spammer,) = [e.expert_id for e in sim if e.spammer]
    order_before = [s["expert_id"] for s in sourced["before"]["staffing"]]
    order_after = [s["expert_id"] for s in sourced["after"]["staffing"]]
    assert order_before != order_after
    # the spammer's measured quality sinks under the prior: they rank lower, or drop out
    assert spammer not in after or after[spammer]["rank"] > before[spammer]["rank"]
    # the good experts who worked have a record over the prior now
    assert any(s["parts"]["quality"] > 0.75 for e, s in after.items() if e in before)
