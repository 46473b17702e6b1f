"""Stage 2b, qualify: before production, the shortlisted candidates answer the
qualification set in a Label Studio project of its own, with their own logins. Those at or
above the pass mark are rostered (and keep the weekly hours they hold); the others are
recorded in the pool as failed for the campaign's domain, with their score, and their hours
are freed. When the shortlist runs out before the roster is full, the next in rank are
shortlisted. Production starts once the roster is full, or once nobody is left to try and
at least ``annotators_per_item`` passed.

Everything is read back each tick (the roster's states from the state store, the answers
from Label Studio), so a tick that dies halfway is simply run again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timezone

import pandas as pd

from annoflow.errors import DataError
from annoflow.items import swapped_refs
from annoflow.judgments import counted
from annoflow.roster import bookings, candidates_for, expected_pass_rate
from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from connectors.pool_registry import PoolRegistry
from qc.gold import gold_accuracy
from tasks import stage
from tasks.operations import Campaign, load_campaign, record_actions
from tasks.production import annotation_rows, campaign_project, import_once
from tasks.quality import gold_answers, qc_config, to_contract
from tasks.services import Services
from tasks.sourcing import ensure_experts, write_roster

log = logging.getLogger("annoflow.qualify")

@dataclass(frozen=True)
class Score:
    """One candidate's qualification: fields right of fields judged, on ``answered`` items."""
    right: int
    judged: int
    answered: int

    @property
    def share(self) -> float:
        return self.right / self.judged if self.judged else 0.0


def score_answers(spec: RequestSpec, items: pd.DataFrame, rows: pd.DataFrame) -> dict[str, Score]:
    """Each candidate's score on the qualification items (pure): ``rows`` are raw
    annotation rows of the qualification project; what counts is what counts in
    production (one judgment per expert per item, cancelled and empty ones left out)."""
    judged, _ = counted(rows)
    if not len(judged):
        return {}
    contract = to_contract(judged)
    truth = gold_answers(items.assign(is_gold=True))
    stats = gold_accuracy(contract, truth, tolerance=qc_config(spec).gold_tolerance)
    answered = judged.groupby("expert_id")["item_id"].nunique()
    return {str(w): Score(int(r.n_correct), int(r.n_gold), int(answered.get(w, 0)))
            for w, r in stats.iterrows()}


def decide(spec: RequestSpec, scores: dict[str, Score], qualifying: list[str]) -> dict[str, dict]:
    """Who of the candidates still qualifying has finished the round, and passed or failed
    (pure): expert -> {passed, score, reason}."""
    q = spec.workforce.qualification
    out = {}
    for e in qualifying:
        s = scores.get(e)
        if s is None or s.answered < q.items:
            continue
        passed = s.share >= q.pass_mark
        out[e] = {"passed": passed, "score": s, "reason": (
            f"qualification {'passed' if passed else 'failed'}: {s.right}/{s.judged} right "
            f"({s.share:.0%}; pass mark {q.pass_mark:.0%})")}
    return out


@dataclass(frozen=True)
class Qualified:
    """Where the round stands after a tick."""
    camp: Campaign
    ready: bool            # production may start
    actions: list[dict]
    waiting_for: int       # candidates still answering
    note: str | None = None


@stage(name="qualify")
def qualify(camp: Campaign, svc: Services | None = None) -> Qualified:
    """One tick of the qualification round: onboard the candidates, give them the project,
    score who has finished, roster or fail them, shortlist more when the shortlist runs out."""
    svc = svc or Services.connect()
    spec, state, ls, raw = camp.spec, svc.state, svc.ls, svc.raw(camp.request_id)
    q = spec.workforce.qualification
    if camp.stage != "qualifying":
        state.set_stage(request_id=camp.request_id, stage="qualifying", actor="tick")
    stored = svc.store.get_parquet(uri=raw.qualification)
    if stored is None:
        raise DataError(f"campaign {camp.request_id} has a qualification round but no "
                        f"qualification items in {raw.qualification}: submit it again")
    items = stored.to_pandas()
    camp = _onboard(camp, svc)
    project = campaign_project(ls, state, spec, get_task_type(spec.task.type).label_config(spec),
                               qualification=True)
    import_once(ls, project.id, spec, items)
    users = dict(zip(camp.roster["expert_id"], camp.roster["ls_user_id"]))
    # the answers so far
    refs = {r.ref: (r.item_id, True) for r in items.itertuples()}
    experts = {int(u): e for e, u in users.items() if pd.notna(u)}
    answered = list(ls.iter_tasks(project_id=project.id, with_annotations=True))
    rows, _ = annotation_rows(answered, refs=refs, experts=experts, spec=spec,
                              swapped=swapped_refs(items))
    decided = decide(spec, score_answers(spec, items, rows), camp.with_status("qualifying"))
    now = datetime.now(timezone.utc)
    actions = []
    places = spec.workforce.max_experts - len(camp.with_status("active"))
    for e in camp.roster["expert_id"]:  # in rank order: the best who passed take the places
        d = decided.get(e)
        if d is None:
            continue
        status = "failed" if not d["passed"] else "active" if places > 0 else "released"
        places -= status == "active"
        if status == "released":
            d = {**d, "reason": d["reason"] + "; the roster was full already"}
        if state.change_roster(request_id=camp.request_id, expert_id=e, status=status,
                               reason=d["reason"], actor="tick",
                               detail={"rule": "qualification", "right": d["score"].right,
                                       "judged": d["score"].judged}):
            actions.append({"action": {"active": "qualified", "failed": "failed_qualification",
                                       "released": "released"}[status],
                            "expert_id": e, "reason": d["reason"]})
            log.info("%s: %s", e, d["reason"])
    PoolRegistry(state).record_qualification(camp.request_id, spec.domain, {
        e: (d["passed"], d["score"].right, d["score"].judged, d["reason"])
        for e, d in decided.items()})
    camp = replace(camp, entries={r.expert_id: r for r in state.roster_entries(camp.request_id)})
    passed, pending = camp.with_status("active"), camp.with_status("qualifying")
    need, k = spec.workforce.max_experts, spec.workforce.annotators_per_item
    ready, note = False, None
    if len(passed) >= need:
        for e in pending:  # the roster is full: the others are let go, their hours freed
            why = f"the roster filled ({need} experts qualified) before the round was finished"
            if state.change_roster(request_id=camp.request_id, expert_id=e, status="released",
                                   reason=why, actor="tick", detail={"rule": "qualification"}):
                actions.append({"action": "released", "expert_id": e, "reason": why})
        ready = True
    elif not pending:
        added, note = _shortlist_more(camp, need - len(passed), svc)
        actions += [{"action": "shortlisted", "expert_id": e} for e in added]
        ready = not added and len(passed) >= k
        if not added and not ready:
            note = (f"qualification: {len(passed)} of the {need} places filled, fewer than the "
                    f"{k} each item needs, and {note}. What would fix it: more experts in the "
                    f"pool for {spec.domain} (`annoflow pool import`), or a lower "
                    f"workforce.qualification.pass_mark ({q.pass_mark:g})")
            log.warning(note)
    camp = load_campaign(camp.request_id, svc)
    members = camp.with_status("qualifying") + ([] if ready else camp.with_status("active"))
    ls.set_access(project_id=project.id, members=[int(users[e]) for e in members if e in users],
                  probes=[], gold_rate=0.0,
                  serving_ttl_s=spec.operations.idle_release_hours * 3600)
    record_actions(svc.store, raw, [{**a, "at": now.isoformat(timespec="seconds")}
                                    for a in actions])
    return Qualified(camp=camp, ready=ready, actions=actions,
                     waiting_for=len(camp.with_status("qualifying")), note=note)


def _onboard(camp: Campaign, svc: Services) -> Campaign:
    """Label Studio users for the candidates not onboarded yet (the raw zone's roster gets
    their user ids)."""
    roster = camp.roster
    missing = roster["ls_user_id"].isna() if "ls_user_id" in roster.columns else \
        pd.Series(True, index=roster.index)
    if not missing.any():
        return camp
    made = ensure_experts(list(roster["expert_id"]), ls=svc.ls, state=svc.state,
                          settings=svc.settings)
    roster = roster.assign(ls_user_id=[made[e].ls_user_id for e in roster["expert_id"]])
    write_roster(svc.store, svc.raw(camp.request_id), roster)
    return replace(camp, roster=roster)


def _shortlist_more(camp: Campaign, missing: int, svc: Services) -> tuple[list[str], str | None]:
    """The next in rank, enough for ``missing`` places after the expected failures, as
    qualifying candidates holding a place's hours; ([], why) when the pool has nobody
    left."""
    from tasks.scoping import rank_pool
    from tasks.stages import last_plan

    spec, state = camp.spec, svc.state
    with svc.lock("pool", kind="bookings"):  # read and book the pool's hours at once
        rate = expected_pass_rate(*PoolRegistry(state).qualification_record(spec.domain))
        n = candidates_for(missing, rate)
        try:
            fresh = rank_pool(spec, state, exclude=list(camp.entries), limit=n, need=1)[0].head(n)
        except DataError as err:
            return [], f"nobody else in the pool qualifies for it ({str(err).split('. ')[0]})"
        plan = last_plan(camp.request_id, svc)
        hours = plan.expert_hours if plan else spec.seconds_per_judgment * len(camp.items) / 3600
        added = state.set_roster(request_id=camp.request_id, expert_ids=list(fresh["expert_id"]),
                                 booked_hours=bookings(fresh, hours, places=spec.workforce.max_experts),
                                 actor="tick", status="qualifying")
    fresh = fresh[fresh["expert_id"].isin(added)]
    roster = pd.concat([camp.roster, fresh[camp.roster.columns.intersection(fresh.columns)]],
                       ignore_index=True)
    write_roster(svc.store, svc.raw(camp.request_id), roster)
    log.info("%d more candidates shortlisted for the qualification round of %s",
             len(added), camp.request_id)
    return added, None


def close_round(camp: Campaign, svc: Services) -> None:
    """Production has started: nobody works in the qualification project any more."""
    rec = svc.state.campaign(camp.request_id)
    if rec is not None and rec.qualification_project_id is not None:
        svc.ls.set_access(project_id=rec.qualification_project_id, members=[], probes=[],
                          gold_rate=0.0)
