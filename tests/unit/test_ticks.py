"""The tick's own decisions, without services: live removal on a campaign's synced
judgments, idle release, and the progress snapshot `annoflow status` shows."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from connectors.label_studio import ExpertActivity
from connectors.state import RosterEntry
from tasks.operations import (Campaign, idle_experts, live_contract, progress_snapshot,
                               quality_removals)
from tests.unit.test_judgments import _campaign
from tests.unit.test_task_types import SPECS

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def _camp(spec, sc, statuses: dict[str, str] | None = None) -> Campaign:
    roster = sc.roster.assign(ls_user_id=range(100, 100 + len(sc.roster)))
    entries = {e: RosterEntry(expert_id=e, status=(statuses or {}).get(e, "active"),
                              reason="why" if (statuses or {}).get(e) else None,
                              changed_at=NOW if (statuses or {}).get(e) else None)
               for e in roster["expert_id"]}
    return Campaign(spec=spec, items=sc.items, roster=roster, entries=entries, project_id=1,
                    stage="producing")


def _spam(synced: pd.DataFrame, expert: str, items: pd.DataFrame) -> pd.DataFrame:
    """``expert`` answers every gold item wrong, at normal speed."""
    gold = items[items["is_gold"]].set_index("item_id")["gold_answer"]
    out = synced.copy()
    mine = out["expert_id"].eq(expert) & out["is_gold"]
    wrong = {"preference": "a"}, {"preference": "b"}
    out.loc[mine, "answer_json"] = [
        json.dumps(wrong[0] if json.loads(gold[i]) != wrong[0] else wrong[1])
        for i in out.loc[mine, "item_id"]]
    return out


@pytest.mark.parametrize("task_type", sorted(SPECS))
def test_a_good_campaign_removes_nobody(task_type: str, repo) -> None:
    spec, sc, synced = _campaign(task_type, repo)
    camp = _camp(spec, sc)
    assert quality_removals(camp, live_contract(camp, synced)).empty
    snap = progress_snapshot(camp, synced, now=NOW, previous=None, reconciled=None)
    assert snap.tasks_complete == snap.tasks


def test_an_expert_wrong_on_every_gold_item_is_removed_and_only_them(repo) -> None:
    spec, sc, synced = _campaign("pairwise_preference", repo)
    bad = synced.loc[synced["is_gold"], "expert_id"].value_counts().index[0]
    camp, spammed = _camp(spec, sc), _spam(synced, bad, sc.items)
    out = quality_removals(camp, live_contract(camp, spammed))
    assert list(out.index) == [bad] and out.loc[bad, "rule"] == "gold"
    # once removed, the tick does not judge them again
    gone = _camp(spec, sc, {bad: "removed"})
    assert quality_removals(gone, live_contract(gone, spammed)).empty


def test_only_a_held_task_past_the_limit_releases_an_expert(repo) -> None:
    spec, sc, _ = _campaign("pairwise_preference", repo)
    camp = _camp(spec, sc)
    limit = timedelta(hours=spec.operations.idle_release_hours)
    a, b, c = (int(u) for u in camp.roster["ls_user_id"][:3])
    activity = {
        a: ExpertActivity(a, 7, NOW - limit - timedelta(seconds=1), NOW - limit, 3),
        b: ExpertActivity(b, 8, NOW - limit + timedelta(seconds=30), NOW, 3),
        c: ExpertActivity(c, None, None, NOW - 10 * limit, 9),  # idle, but holds nothing
    }
    out = idle_experts(camp, activity, NOW)
    ea = camp.roster.set_index("ls_user_id").at[a, "expert_id"]
    assert list(out) == [ea] and "held task 7" in out[ea]


def test_progress_counts_removed_experts_for_nothing_and_says_why(repo) -> None:
    spec, sc, synced = _campaign("pairwise_preference", repo)
    synced = synced.assign(created_at=NOW - timedelta(minutes=30))
    snap = progress_snapshot(_camp(spec, sc), synced, now=NOW, previous=None, reconciled=None)
    n = int((~sc.items["is_gold"]).sum())
    assert snap.tasks == n and snap.tasks_complete == n and snap.judgments_remaining == 0
    assert snap.cost_usd > 0 and snap.throughput_per_hour.last_hour > 0
    assert snap.eta is None and not snap.alerts
    someone = synced.loc[~synced["is_gold"], "expert_id"].iloc[0]
    snap = progress_snapshot(_camp(spec, sc, {someone: "removed"}), synced, now=NOW,
                             previous=None, reconciled=None)
    assert snap.tasks_complete < n and snap.judgments_remaining > 0
    assert snap.eta is not None  # from the pace of the last hour
    assert [x.state for x in snap.experts if x.expert_id == someone] == ["removed"]
    assert snap.alerts == [f"expert removed: {someone}: why"]


def test_a_campaign_that_stops_moving_raises_the_stall_alert(repo) -> None:
    spec, sc, synced = _campaign("pairwise_preference", repo)
    synced = synced.assign(created_at=NOW - timedelta(hours=2)).iloc[:50]
    first = progress_snapshot(_camp(spec, sc), synced, now=NOW, previous=None, reconciled=None)
    later = progress_snapshot(_camp(spec, sc), synced, now=NOW + timedelta(minutes=1),
                              previous=first, reconciled=None)
    assert later.quiet_since == first.at and not later.alerts
    much_later = progress_snapshot(_camp(spec, sc), synced, now=NOW + timedelta(hours=3),
                                   previous=later, reconciled=None)
    assert any(a.startswith("campaign stalled") for a in much_later.alerts)
