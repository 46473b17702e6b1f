"""What a campaign's tick does besides syncing: read the campaign back, act on live QC
(remove, requeue, release), and record where it stands.

Everything a tick needs is read back from where it was recorded, never recomputed: the
spec and the items from the raw zone, the roster and each expert's state from the state
store. A tick that dies halfway is simply run again: each step finds what it already did.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

import pandas as pd

from annoflow.errors import AnnoflowError
from annoflow.judgments import counted, set_aside_summary
from annoflow.layout import RawZone
from annoflow.plan import gold_rate
from annoflow.results import ExpertState, Progress, Throughput
from annoflow.spec import RequestSpec
from annoflow.settings import get_settings
from annoflow.failpoints import failpoint
from connectors.label_studio import LabelStudioClient
from connectors.s3 import S3Store
from connectors.state import RosterEntry, StateStore
from qc.live import LiveRules, removals, reviewed
from tasks import stage
from tasks.production import complete_items, live_annotations, required_overlap, trusted_counts
from tasks.quality import gold_answers, qc_config, to_contract
from tasks.services import CampaignLabelStudio, ObjectStore, Services

log = logging.getLogger("annoflow.operations")

#: no new judgment for this many ticks (and at least this long) is a stalled campaign
STALL_TICKS, STALL_MIN = 20, timedelta(minutes=2)


@dataclass(frozen=True)
class Campaign:
    """A campaign as a tick reads it back."""
    spec: RequestSpec
    items: pd.DataFrame
    roster: pd.DataFrame                 # raw-zone roster: expert_id, ls_user_id, rates, hours
    entries: dict[str, RosterEntry]      # each rostered expert's state (state store)
    project_id: int | None
    stage: str
    #: items whose overlap live QC raised (item_id -> judgments; ``tasks.extra_judgments``)
    overlaps: dict[str, int] = field(default_factory=dict)

    @property
    def request_id(self) -> str:
        return self.spec.request_id

    def with_status(self, status: str) -> list[str]:
        return sorted(e for e, r in self.entries.items() if r.status == status)

    @property
    def removed(self) -> dict[str, str]:
        return {e: r.reason or "" for e, r in self.entries.items() if r.status == "removed"}


def load_campaign(request_id: str, svc: Services | None = None) -> Campaign:
    """The campaign as recorded at submission and onboarding."""
    svc = svc or Services.connect()
    store, state, raw = svc.store, svc.state, svc.raw(request_id)
    camp = state.campaign(request_id)
    spec_bytes, items, roster = (store.get_bytes(uri=raw.spec), store.get_parquet(uri=raw.items),
                                 store.get_parquet(uri=raw.roster))
    overlaps = store.get_bytes(uri=raw.overlaps)
    if camp is None or spec_bytes is None or items is None or roster is None:
        raise AnnoflowError(f"campaign {request_id!r} was never submitted here (no record in "
                            f"{state.where} or nothing in {raw.base}/): run `annoflow run SPEC`")
    return Campaign(spec=RequestSpec.model_validate_json(spec_bytes), items=items.to_pandas(),
                    roster=roster.to_pandas(),
                    entries={r.expert_id: r for r in state.roster_entries(request_id)},
                    project_id=camp.ls_project_id, stage=camp.stage,
                    overlaps=json.loads(overlaps) if overlaps else {})


def apply_access(ls: CampaignLabelStudio, camp: Campaign, probes: list[int] | None = None) -> None:
    """Label Studio's view of the roster: active experts are members; removed ones are
    out and their work no longer counts (their tasks are served to others); released ones
    are out, their held tasks freed, their work still counting."""
    users = dict(zip(camp.roster["expert_id"], camp.roster["ls_user_id"]))
    ids = lambda status: [int(users[e]) for e in camp.with_status(status)  # noqa: E731
                          if e in users and pd.notna(users[e])]
    ls.set_access(project_id=camp.project_id, members=ids("active"), probes=probes,
                  gold_rate=gold_rate(camp.spec), removed=ids("removed"),
                  serving_ttl_s=camp.spec.operations.idle_release_hours * 3600)


def record_actions(store: ObjectStore, raw: RawZone, actions: list[dict]) -> None:
    """An append-only copy of the tick's actions in the raw zone (lineage)."""
    if not actions:
        return
    body = json.dumps(actions, indent=2, default=str).encode()
    at = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    store.put_bytes(uri=raw.audit(at, hashlib.sha256(body).hexdigest()[:12]), data=body,
                    content_type="application/json")


def _live_rules(spec: RequestSpec) -> LiveRules:
    return LiveRules(min_gold_accuracy=spec.qc.min_gold_accuracy,
                     min_speed_ratio=spec.qc.min_speed_ratio,
                     min_judgments_for_speed=spec.qc.min_judgments_for_speed,
                     gold_tolerance=qc_config(spec).gold_tolerance,
                     min_gold_judgments=spec.qc.min_gold_judgments,
                     expected_s=spec.seconds_per_judgment)


def live_contract(camp: Campaign, synced: pd.DataFrame) -> pd.DataFrame | None:
    """The counted judgments of the experts still on the campaign (active or released) as
    the QC contract, what every live rule reads (None: there are none). Computed once a
    tick: released experts' work counts, and their pace is part of the crowd's."""
    judged, _ = counted(synced)
    judged = judged[judged["expert_id"].isin([*camp.with_status("active"),
                                              *camp.with_status("released")])]
    return to_contract(judged) if len(judged) else None


def quality_removals(camp: Campaign, contract: pd.DataFrame | None) -> pd.DataFrame:
    """The active experts the live rules remove now (pure): see ``qc.live``."""
    if contract is not None:
        contract = contract[contract["worker"].isin(camp.with_status("active"))]
    if contract is None or not len(contract):
        return pd.DataFrame(columns=["rule", "reason"])
    gold = gold_answers(camp.items) if camp.spec.gold is not None else \
        pd.DataFrame(columns=["task", "field", "label"])
    return removals(contract, gold, _live_rules(camp.spec))


def vouched(camp: Campaign, contract: pd.DataFrame | None) -> dict[int, int]:
    """Active experts' judgments live QC has vouched for, by Label Studio user id (pure);
    released experts' paces count among the others'."""
    if contract is None:
        return {}
    users = dict(zip(camp.roster["expert_id"], camp.roster["ls_user_id"]))
    active = set(camp.with_status("active"))
    return {int(users[e]): n for e, n in reviewed(contract, _live_rules(camp.spec)).items()
            if e in active and e in users and pd.notna(users[e])}


def idle_experts(camp: Campaign, activity: dict, now: datetime) -> dict[str, str]:
    """Active experts holding a task unsubmitted past ``operations.idle_release_hours``."""
    limit = timedelta(hours=camp.spec.operations.idle_release_hours)
    users = dict(zip(camp.roster["ls_user_id"], camp.roster["expert_id"]))
    out = {}
    for uid, a in activity.items():
        e = users.get(uid)
        if e in camp.entries and camp.entries[e].status == "active" and a.open_since is not None \
                and now - a.open_since > limit:
            out[e] = (f"held task {a.open_task} for {(now - a.open_since).total_seconds():.0f} s "
                      f"without submitting (operations.idle_release_hours "
                      f"{camp.spec.operations.idle_release_hours:g})")
    return out


@stage(name="live-qc")
def act_on_quality(camp: Campaign, synced: pd.DataFrame,
                   svc: Services | None = None) -> tuple[Campaign, list[dict]]:
    """Remove the experts live QC is confident about, release idle ones; their access and
    Label Studio's counting change at once (the items they touched are requeued).

    Label Studio is told first and the roster after, so that the time a removal is recorded
    is after the last submission it could accept. A crash in between leaves the expert
    active in the roster but out of Label Studio: the next tick, on the same evidence,
    decides the same and records it (access is recomputed from the roster whenever a tick
    acts, so nobody stays locked out by a decision that was not recorded)."""
    svc = svc or Services.connect()
    ls = svc.ls
    contract = live_contract(camp, synced)
    planned: dict[str, dict] = {}
    for e, r in quality_removals(camp, contract).iterrows():
        planned[e] = {"action": "removed", "expert_id": e, "rule": r["rule"], "reason": r["reason"]}
    now = datetime.now(timezone.utc)
    for e, why in idle_experts(camp, ls.expert_activity(project_id=camp.project_id), now).items():
        planned.setdefault(e, {"action": "released", "expert_id": e, "reason": why})
    camp, actions = apply_roster_changes(camp, planned, now=now, svc=svc)
    # what live QC has now looked at: the experts it vouches for may work further ahead
    ls.set_review(project_id=camp.project_id, window=camp.spec.qc.review_window,
                  reviewed=vouched(camp, contract))
    return camp, actions


def apply_roster_changes(camp: Campaign, planned: dict[str, dict], *, now: datetime,
                         svc: Services | None = None) -> tuple[Campaign, list[dict]]:
    """A tick's removals and releases (expert -> action with its reason): Label Studio is
    told first, the roster after, so that a removal is recorded after the last submission
    it could accept; each recorded change goes in the audit log."""
    if not planned:
        return camp, []
    svc = svc or Services.connect()
    state, store = svc.state, svc.store
    apply_access(svc.ls, replace(camp, entries={
        e: replace(r, status=planned[e]["action"]) if e in planned else r
        for e, r in camp.entries.items()}))
    failpoint("act:access-applied")
    actions: list[dict] = []
    for e, a in planned.items():
        if state.change_roster(request_id=camp.request_id, expert_id=e, status=a["action"],
                               reason=a["reason"], actor="tick",
                               detail={"rule": a["rule"]} if "rule" in a else None):
            actions.append(a)
            log.warning("%s expert %s from %s: %s", a["action"], e, camp.request_id, a["reason"])
    camp = replace(camp, entries={r.expert_id: r for r in state.roster_entries(camp.request_id)})
    record_actions(store, svc.raw(camp.request_id),
                   [{**a, "at": now.isoformat(timespec="seconds")} for a in actions])
    return camp, actions


# -- progress -------------------------------------------------------------------------
def _rate(synced: pd.DataFrame, now: datetime, window: timedelta) -> float:
    """Judgments per hour submitted in the last ``window`` (or since the first judgment,
    when the campaign is younger than that)."""
    if not len(synced):
        return 0.0
    recent = synced["created_at"] >= pd.Timestamp(now - window)
    span = min(window, now - synced["created_at"].min().to_pydatetime())
    hours = max(span.total_seconds(), 60.0) / 3600
    return float(recent.sum()) / hours


def progress_snapshot(camp: Campaign, synced: pd.DataFrame, *, now: datetime,
                      previous: Progress | None, reconciled: dict | None) -> Progress:
    """Where the campaign stands (pure): progress, throughput, ETA, cost, experts, alerts."""
    spec = camp.spec
    removed = set(camp.removed)
    live = live_annotations(synced)
    work = camp.items[~camp.items["is_gold"].astype(bool)]
    done = complete_items(synced, camp.items, spec, removed, camp.overlaps)
    have = trusted_counts(synced, removed)
    need = required_overlap(camp.items, spec, camp.overlaps).reindex(work["ref"].to_numpy()).to_numpy()
    remaining = int((need - have.reindex(work["item_id"].to_numpy(), fill_value=0).to_numpy())
                    .clip(min=0).sum())
    per_hour, per_day = _rate(live, now, timedelta(hours=1)), _rate(live, now, timedelta(days=1))
    rate = per_hour or per_day
    eta = (now + timedelta(hours=remaining / rate)) if rate and remaining else None
    rates = dict(zip(camp.roster["expert_id"], camp.roster["hourly_rate_usd"]))
    hours = live.groupby("expert_id")["lead_time_s"].sum() / 3600
    cost = float(sum(h * float(rates.get(e, 0) or 0) for e, h in hours.items()))
    last_seen = live.groupby("expert_id")["created_at"].max()
    experts = []
    for e, r in sorted(camp.entries.items()):
        seen = last_seen.get(e)
        state = r.status if r.status != "active" else (
            "active" if seen is not None and now - seen.to_pydatetime() < timedelta(hours=1)
            else "idle")
        experts.append(ExpertState(
            expert_id=e, state=state, reason=r.reason,
            since=r.changed_at.isoformat(timespec="seconds") if r.changed_at else None,
            judgments=int((live["expert_id"] == e).sum())))
    alerts = []
    if spec.deadline and eta is not None and eta.date() > spec.deadline:
        alerts.append(f"deadline at risk: at the last hour's pace the work ends {eta:%Y-%m-%d}, "
                      f"after the {spec.deadline} deadline")
    alerts += [f"expert removed: {e}: {why}" for e, why in sorted(camp.removed.items())]
    active = len(camp.with_status("active"))
    k = spec.workforce.annotators_per_item
    if active < k and done < len(work):
        alerts.append(f"too few experts: {active} active, each item needs {k} different ones; "
                      f"add some with `annoflow experts {camp.request_id} --add N`")
    prev_judgments = previous.judgments if previous else None
    quiet_since = previous.quiet_since if previous else None
    if prev_judgments is not None and prev_judgments == len(synced) and done < len(work):
        quiet_since = quiet_since or previous.at
    else:
        quiet_since = None
    if quiet_since and now - datetime.fromisoformat(quiet_since) > max(
            STALL_MIN, timedelta(seconds=STALL_TICKS * spec.operations.tick_seconds)):
        alerts.append(f"campaign stalled: no new judgment since {quiet_since}")
    return Progress(
        at=now.isoformat(timespec="seconds"), stage=camp.stage, tasks_complete=done,
        tasks=int(len(work)), judgments=int(len(synced)), judgments_remaining=remaining,
        throughput_per_hour=Throughput(last_hour=round(per_hour, 1), last_day=round(per_day, 1)),
        eta=eta.isoformat(timespec="seconds") if eta else None,
        cost_usd=round(cost, 2), budget_usd=spec.budget_usd,
        experts_active=sum(x.state == "active" for x in experts), experts=experts,
        alerts=alerts, quiet_since=quiet_since,
        extra_judgments=sum(max(0, n - k) for n in camp.overlaps.values()),
        items_with_extra=sum(n > k for n in camp.overlaps.values()),
        set_aside=set_aside_summary(counted(synced)[1])[1],
        reconciliation=reconciled or (previous.reconciliation if previous else {}))


def status_markdown(request_id: str, p: Progress) -> str:
    md = [f"# {request_id}: {p.stage}", "",
          f"**{p.tasks_complete}/{p.tasks}** items complete · {p.judgments} judgments · "
          f"{p.throughput_per_hour.last_hour}/h in the last hour · ETA {p.eta or 'n/a'} · "
          f"cost ${p.cost_usd:,.2f}" + (f" of ${p.budget_usd:,.0f}" if p.budget_usd else ""),
          "", "| expert | state | judgments | reason |", "|---|---|---|---|"]
    md += [f"| {x.expert_id} | {x.state} | {x.judgments} | {x.reason or ''} |"
           for x in p.experts]
    md += ["", *[f"- ⚠ {a}" for a in p.alerts]]
    return "\n".join(md)


@stage(name="record-progress")
def record_progress(camp: Campaign, synced: pd.DataFrame, reconciled: dict | None,
                    watermark: datetime | None = None, previous: Progress | None = None,
                    svc: Services | None = None) -> Progress:
    """Write the progress snapshot (raw zone; what `annoflow status` reads) and the
    campaign's status artifact in Prefect. ``previous``: the last tick's snapshot (the
    tick has read it already)."""
    svc = svc or Services.connect()
    snap = progress_snapshot(camp, synced, now=datetime.now(timezone.utc), previous=previous,
                             reconciled=reconciled)
    if watermark is not None:  # where the next tick's sync starts
        snap.sync_watermark = watermark.isoformat()
    svc.store.put_bytes(uri=svc.raw(camp.request_id).progress,
                        data=snap.model_dump_json().encode(), content_type="application/json")
    svc.publish(key=f"{camp.request_id}-status", markdown=status_markdown(camp.request_id, snap),
                description=f"Status of campaign {camp.request_id}")
    log.info("progress: %d/%d items complete, %d judgments synced", snap.tasks_complete,
             snap.tasks, snap.judgments)
    return snap


# -- explicit roster changes (annoflow experts --add / --remove) ------------------------
def add_experts(request_id: str, n: int) -> list[str]:
    """Source ``n`` more experts from the pool for a running campaign (after removals, say):
    the best eligible ones not on the roster yet, with the weekly hours other campaigns
    left them; booked, onboarded and given access in one go. Returns their ids."""
    from tasks.locks import campaign_lock

    settings = get_settings()
    store, state, ls = S3Store(settings), StateStore(settings.state_url), LabelStudioClient(settings)
    camp = load_campaign(request_id)
    if camp.stage in ("delivered", "cancelled"):
        raise AnnoflowError(f"campaign {request_id} is {camp.stage}: its roster is closed")
    with campaign_lock("pool", kind="bookings"):  # read and book the pool's hours at once
        return _add(camp, n, state, store, ls, settings)


def _add(camp: Campaign, n: int, state: StateStore, store: S3Store,
         ls: LabelStudioClient, settings) -> list[str]:
    from annoflow.roster import bookings
    from tasks.scoping import rank_pool
    from tasks.sourcing import ensure_experts, write_roster

    request_id = camp.request_id
    # (DataError when the pool has fewer than n more: nothing is changed)
    fresh = rank_pool(camp.spec, state, exclude=list(camp.entries), limit=n, need=n)[0].head(n)
    hours = camp.spec.seconds_per_judgment * len(camp.items) / 3600  # a share's upper bound
    added = state.set_roster(request_id=request_id, expert_ids=list(fresh["expert_id"]),
                             booked_hours=bookings(fresh, hours), actor="cli")
    made = ensure_experts(added, ls=ls, state=state, settings=settings)
    fresh = fresh.assign(ls_user_id=fresh["expert_id"].map(lambda e: made[e].ls_user_id))
    roster = pd.concat([camp.roster, fresh[camp.roster.columns.intersection(fresh.columns)]],
                       ignore_index=True)
    write_roster(store, RawZone(settings.raw_zone_uri, request_id), roster)
    camp = load_campaign(request_id)
    if camp.project_id is not None:
        apply_access(ls, camp)
    record_actions(store, RawZone(settings.raw_zone_uri, request_id),
                    [{"action": "added", "expert_id": e, "actor": "cli",
                      "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
                     for e in added])
    return added


def remove_expert(request_id: str, expert_id: str, reason: str) -> bool:
    """Take an expert off a campaign by hand: their access ends at once, their judgments
    stop counting (their items are served to others), their hours are freed."""
    settings = get_settings()
    state, store = StateStore(settings.state_url), S3Store(settings)
    camp = load_campaign(request_id)
    if expert_id not in camp.entries:
        raise AnnoflowError(f"{expert_id!r} is not on the roster of {request_id}")
    changed = state.change_roster(request_id=request_id, expert_id=expert_id, status="removed",
                                  reason=reason, actor="cli", detail={"rule": "manual"})
    if changed and camp.project_id is not None:
        apply_access(LabelStudioClient(settings), load_campaign(request_id))
    if changed:
        record_actions(store, RawZone(settings.raw_zone_uri, request_id), [{
            "action": "removed", "expert_id": expert_id, "rule": "manual", "reason": reason,
            "actor": "cli", "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}])
    return changed
