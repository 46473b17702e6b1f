"""A campaign's flows. ``annoflow run`` scopes and submits a campaign; from then on it
advances in short, idempotent ticks, every ``operations.tick_seconds``, that a Prefect
worker runs on the campaign's schedule, with nothing kept in memory between them:

    tick: [set up, the first time] -> sync the changes -> live QC, act -> extra judgments
          -> record progress [-> QC, deliver, when every item has its judgments]

Every tick holds the campaign's lock; a tick that finds it taken (a delivery manager's
command) does nothing and leaves the work to the next.

A run of the deployment is a process the worker starts (two to four seconds of imports and
Prefect's bookkeeping on a small machine). Ticks far apart get a run each; ticks closer
than ``RUN_SPAN_S`` share one: a run ticks every ``tick_seconds`` until its span (the
schedule's interval) is nearly over, and the schedule starts the next. A killed run loses
at most the tick it was in; the next run starts from what the last one recorded.
"""
from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from prefect import flow
from prefect.runtime import flow_run

from annoflow.errors import AnnoflowError, CampaignBusy, QCGateFailed
from annoflow.results import CampaignResult, ExcludedExpert, Progress, TickResult
from annoflow.failpoints import failpoint
from annoflow.spec import RequestSpec
from tasks.delivery import deliver
from tasks.extra_judgments import ask_for_more
from tasks.locks import TICK_WAIT_S, command_wait_s
from tasks.operations import Campaign, act_on_quality, load_campaign, record_progress
from tasks.production import (RECONCILE_EVERY_S, complete_item_ids, read_swap_probes, read_synced,
                              setup_project, sync_annotations)
from tasks.qualification import close_round, qualify
from tasks.quality import assess, quality_control
from tasks.review import Reviewed, close_review, redo, review_round, source_reviewers
from tasks.services import Services
from tasks.sourcing import onboard_experts, record_feedback
from tasks.submission import submit_campaign
from tasks.stages import STOPPED, halted, last_plan, last_progress, set_stage, slot_deadline


#: ticks closer together than this share a run of the deployment (seconds)
RUN_SPAN_S = 120.0


def run_interval(tick_seconds: float) -> float:
    """The tick deployment's schedule interval: one run per tick, or per span of ticks."""
    return max(float(tick_seconds), RUN_SPAN_S)


def _reconcile_due(progress: Progress | None) -> bool:
    at = progress.reconciliation.get("at") if progress else None
    return at is None or datetime.now(timezone.utc) - datetime.fromisoformat(at) > \
        timedelta(seconds=RECONCILE_EVERY_S)


def _watermark(progress: Progress | None) -> datetime | None:
    at = progress.sync_watermark if progress else None
    return datetime.fromisoformat(at) if at else None


def _set_up(camp: Campaign, svc: Services) -> Campaign:
    """Onboard the roster and make the project (the first tick after qualification, if
    any; idempotent). Only active experts are the project's members."""
    roster = onboard_experts(camp.spec, camp.roster, svc)
    if camp.spec.qc.review is not None:  # (booked now, so they know early; work comes later)
        source_reviewers(load_campaign(camp.request_id, svc), svc)
    setup_project(camp.spec, camp.items,
                  roster[roster["expert_id"].isin(camp.with_status("active"))], svc)
    close_round(camp, svc)
    set_stage(camp.request_id, "producing", actor="tick", state=svc.state)
    return load_campaign(camp.request_id, svc)


def _finish(camp: Campaign, synced, svc: Services, swap_probes=None) -> CampaignResult | Reviewed:
    """[Expert review of a sample, until every sampled unit has its verdict ->] QC and the
    final delivery; the campaign's schedule stops."""
    review = None
    if camp.spec.qc.review is not None:
        reviewed = review_round(camp, lambda: assess(camp.spec, camp.items, synced,
                                                     camp.removed, swap_probes), svc)
        if reviewed.summary is None:
            if camp.stage != "reviewing":
                set_stage(camp.request_id, "reviewing", actor="tick", state=svc.state,
                          reason=f"{reviewed.sampled} items sampled, for "
                                 f"{len(camp.with_status('reviewing'))} reviewers")
            return reviewed
        camp, again = redo(camp, synced, reviewed.summary, svc)
        if again:  # rejected items are judged again, then reviewed again
            set_stage(camp.request_id, "producing", actor="tick", state=svc.state,
                      reason=f"{len(again)} items rejected in review are judged again")
            return replace(reviewed, summary=None, redoing=len(again))
        review = reviewed.summary
    try:
        qc = quality_control(camp.spec, camp.items, synced, camp.removed, svc.publish,
                             review=review, swap_probes=swap_probes)
    except QCGateFailed as e:
        set_stage(camp.request_id, "qc_failed", reason=str(e), actor="tick", state=svc.state)
        svc.stop_schedules(camp.request_id)
        raise
    finally:
        if review is not None:
            close_review(camp, svc)
    failpoint("finish:qc-done")
    delivery = deliver(camp.spec, camp.items, synced, qc, svc=svc)
    record_feedback(camp, qc, svc)
    result = _result(camp, delivery, qc, svc)
    set_stage(camp.request_id, "delivered", actor="tick", result=result, state=svc.state)
    svc.stop_schedules(camp.request_id)
    return result


def _result(camp: Campaign, delivery, qc, svc: Services) -> CampaignResult:
    settings = svc.settings
    return CampaignResult(
        request_id=camp.request_id, delivery_uri=delivery.uri,
        manifest_uri=delivery.manifest_uri, items=delivery.rows,
        annotations=delivery.annotations, reused_delivery=delivery.reused,
        label_studio_project_url=svc.ls.project_url(camp.project_id),
        qc=delivery.manifest.qc,
        excluded_experts=[ExcludedExpert(expert_id=w, reason=r) for w, r in
                          qc.excluded_workers["exclusion_reason"].items()],
        plan=last_plan(camp.request_id, svc),
        prefect_flow_run_url=(f"{settings.prefect_ui_url}/runs/flow-run/{flow_run.id}"
                              if flow_run.id else None))


@flow(name="campaign-tick", flow_run_name="{request_id}", validate_parameters=False)
def campaign_tick(request_id: str, tick_seconds: float = 0.0, span_s: float = 0.0) -> TickResult:
    """A run of the campaign's ticks: one tick, then more every ``tick_seconds`` while they
    fit in ``span_s`` from the run's scheduled start (or until the campaign stops)."""
    deadline = slot_deadline(span_s)
    ticks = 0
    while True:
        started = time.monotonic()
        result = tick(request_id)
        ticks += 1
        took = time.monotonic() - started
        if result.stage in STOPPED or time.monotonic() + tick_seconds + took > deadline:
            return result.model_copy(update={"ticks": ticks})
        time.sleep(tick_seconds)


def tick(request_id: str, svc: Services | None = None) -> TickResult:
    """One step of a campaign: sync -> live QC -> act -> extra judgments -> progress
    (-> deliver at the end). ``svc``: the clients it uses (built once per tick)."""
    svc = svc or Services.connect()
    stopped = halted(request_id, svc.state, svc.stop_schedules)
    if stopped == "unknown":
        raise AnnoflowError(f"campaign {request_id!r} has no record in this state store; its "
                            f"schedules are switched off")
    if stopped:
        return TickResult(request_id=request_id, stage=stopped, skipped="stopped")
    try:
        with svc.lock(request_id, TICK_WAIT_S):
            camp = load_campaign(request_id, svc)
            if camp.stage in STOPPED:
                return TickResult(request_id=request_id, stage=camp.stage, skipped="stopped")
            if camp.project_id is None and camp.spec.workforce.qualification is not None:
                round_ = qualify(camp, svc)
                if not round_.ready:
                    return TickResult(request_id=request_id, stage="qualifying",
                                      actions=round_.actions, tasks_complete=0,
                                      tasks=int((~camp.items["is_gold"]).sum()))
                camp = round_.camp
            if camp.project_id is None or camp.stage in ("scoped", "submitted", "qualifying"):
                camp = _set_up(camp, svc)
            previous = last_progress(request_id, svc)
            full = _reconcile_due(previous)
            sync = sync_annotations(camp.spec, camp.project_id, camp.items, camp.roster,
                                    full=full, watermark=None if full else _watermark(previous),
                                    svc=svc)
            camp, actions = act_on_quality(camp, sync.synced, svc)
            qc = None
            if full and len(sync.synced):  # (as often as the full reconciliation: QC on all)
                qc = assess(camp.spec, camp.items, sync.synced, camp.removed, sync.swap_probes)
                record_feedback(camp, qc, svc)
            camp, more = ask_for_more(camp, sync.synced, svc, qc=qc)
            actions += more
            progress = record_progress(camp, sync.synced, sync.reconciled, sync.watermark,
                                       previous, svc)
            failpoint("tick:progress-recorded")
            result = None
            if progress.tasks_complete >= progress.tasks:
                result = _finish(camp, sync.synced, svc, sync.swap_probes)
            if isinstance(result, Reviewed):
                return TickResult(request_id=request_id, synced=sync.fresh,
                                  stage="producing" if result.redoing else "reviewing",
                                  actions=actions, tasks_complete=progress.tasks_complete,
                                  tasks=progress.tasks, reviewed=result.reviewed,
                                  review_sample=result.sampled)
            return TickResult(request_id=request_id, stage="delivered" if result else camp.stage,
                              synced=sync.fresh, actions=actions,
                              tasks_complete=progress.tasks_complete, tasks=progress.tasks)
    except CampaignBusy:
        return TickResult(request_id=request_id, stage="busy", skipped="the campaign's lock is held")


@flow(name="campaign-submit", flow_run_name="{spec.request_id}-submit", validate_parameters=False)
def submit(spec: RequestSpec, spec_change: str | None = None) -> None:
    """Scope the campaign and record what its ticks read back (`annoflow run`)."""
    submit_campaign(spec, spec_change)


@flow(name="campaign-deliver", flow_run_name="{request_id}-deliver", validate_parameters=False)
def deliver_interim(request_id: str) -> CampaignResult:
    """An interim version of what has passed QC so far (`annoflow deliver`): the items with
    all their trusted judgments, aggregated as the final delivery would."""
    svc = Services.connect()
    with svc.lock(request_id, command_wait_s()):
        camp = load_campaign(request_id, svc)
        if camp.project_id is None:
            raise AnnoflowError(f"campaign {request_id} has not started production yet: "
                                f"nothing to deliver")
        synced = read_synced(svc.store, svc.raw(request_id))
        qc = assess(camp.spec, camp.items, synced, camp.removed,
                    read_swap_probes(svc.store, svc.raw(request_id)))
        done = set(complete_item_ids(synced, camp.items, camp.spec, set(camp.removed),
                                     camp.overlaps))
        if not done:
            raise AnnoflowError(f"campaign {request_id}: no item has all its judgments yet; "
                                f"nothing to deliver")
        qc = replace(qc, outcome=qc.outcome[qc.outcome["task"].isin(done)].reset_index(drop=True))
        delivery = deliver(camp.spec, camp.items, synced, qc, final=False, svc=svc)
        return _result(camp, delivery, qc, svc)
