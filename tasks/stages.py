"""A campaign's stage and its schedules: the state store holds the stage (scoped ->
submitted -> producing -> delivered, or paused / cancelled / qc_failed), Prefect holds the
deployments that run its ticks (and a simulated workforce's bursts)."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from annoflow.layout import RawZone
from annoflow.plan import CampaignPlan
from annoflow.results import CampaignResult, Progress
from annoflow.settings import get_settings
from connectors.s3 import S3Store
from connectors.state import StateStore
from tasks.services import Services

log = logging.getLogger("annoflow.stages")

ROOT = Path(__file__).resolve().parent.parent
#: the work pool whose workers run campaigns (``make services`` starts one worker)
WORK_POOL = "annoflow"
TICK_FLOW, SIMULATION_FLOW = "campaign-tick", "simulated-workforce"
#: settings a campaign's runs take from the `annoflow run` that submitted it (where things
#: are, as that command saw them), never a secret: secrets come from the worker's own
#: environment
SUBMITTED_SETTINGS = ("label_studio_url", "s3_endpoint_url", "raw_zone_uri", "state_url",
                      "client_buckets", "annotator_url", "retry_budget_s", "http_timeout_s")


def set_stage(request_id: str, stage: str, *, reason: str | None = None, actor: str = "cli",
              result: CampaignResult | None = None, state: StateStore | None = None) -> bool:
    state = state or StateStore(get_settings().state_url)
    if result is not None:
        state.save_result(request_id=request_id, result_json=result.model_dump_json())
    return state.set_stage(request_id=request_id, stage=stage, reason=reason, actor=actor)


def _raw_json(request_id: str, what: str, svc: Services | None = None) -> dict | None:
    if svc is None:
        settings = get_settings()
        raw, store = RawZone(settings.raw_zone_uri, request_id), S3Store(settings)
    else:
        raw, store = svc.raw(request_id), svc.store
    data = store.get_bytes(uri=getattr(raw, what))
    return json.loads(data) if data else None


def last_progress(request_id: str, svc: Services | None = None) -> Progress | None:
    """The progress snapshot the campaign's last tick wrote."""
    data = _raw_json(request_id, "progress", svc)
    return Progress.model_validate(data) if data else None


def last_plan(request_id: str, svc: Services | None = None) -> CampaignPlan | None:
    """The plan made when the campaign was last submitted."""
    data = _raw_json(request_id, "plan", svc)
    return CampaignPlan.model_validate(data) if data else None


def _job_env() -> dict[str, str]:
    """The submitting command's non-secret settings, as the worker's runs will read them."""
    settings = get_settings()
    env = {}
    for name in SUBMITTED_SETTINGS:
        value = getattr(settings, name)
        if value is None:
            continue
        if name == "state_url" and sa.engine.make_url(value).password:
            continue  # a password stays in the worker's environment
        env[f"ANNOFLOW_{name.upper()}"] = json.dumps(value) if isinstance(value, dict) else str(value)
    return env


def deploy(request_id: str, *, flow_name: str, entrypoint: str, interval_s: float,
           parameters: dict[str, Any]) -> str:
    """Create or update the deployment ``flow_name/request_id`` on the work pool, on an
    interval schedule; returns its id. One run at a time: a run due while the last one
    still runs is cancelled by the server, not queued."""
    from prefect import flow as prefect_flow
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    fl = prefect_flow.from_source(source=str(ROOT), entrypoint=entrypoint)
    with contextlib.redirect_stdout(io.StringIO()):  # Prefect prints a table and advice
        dep_id = fl.deploy(
            name=request_id, work_pool_name=WORK_POOL, interval=interval_s,
            parameters=parameters, job_variables={"env": _job_env()}, build=False, push=False,
            print_next_steps=False, ignore_warnings=True,
            concurrency_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            description=f"annoflow campaign {request_id}: {flow_name}")
    return str(dep_id)


#: a run of a scheduled deployment ends this long before its slot does, so that the next
#: run finds the deployment free rather than being cancelled for overlapping: a worker
#: submits a run up to PREFECT_WORKER_PREFETCH_SECONDS early (10 s by default; the worker
#: `make services` starts uses 5), and Prefect takes a moment to close the last one
RUN_MARGIN_S = 15.0


def slot_deadline(span_s: float) -> float:
    """The ``time.monotonic()`` by which a run of an interval schedule of ``span_s`` should
    be done: its scheduled start plus the span, less the margin (from now, without one)."""
    from prefect.runtime import flow_run

    scheduled = flow_run.scheduled_start_time
    late = (datetime.now(timezone.utc) - scheduled).total_seconds() if scheduled else 0.0
    return time.monotonic() + max(0.0, span_s - RUN_MARGIN_S - late)


def _deployment(client: Any, flow_name: str, request_id: str) -> Any | None:
    from prefect.exceptions import ObjectNotFound
    try:
        return client.read_deployment_by_name(f"{flow_name}/{request_id}")
    except ObjectNotFound:
        return None


def run_now(request_id: str, flow_name: str = TICK_FLOW) -> None:
    """Start a run of the campaign's deployment now (the schedule brings the next ones)."""
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        dep = _deployment(client, flow_name, request_id)
        if dep is not None:
            client.create_flow_run_from_deployment(dep.id)


#: stages in which a campaign's scheduled runs (ticks, simulated bursts) have nothing to do
STOPPED = ("paused", "cancelled", "delivered", "qc_failed")


def halted(request_id: str, state: StateStore | None = None,
           stop: Callable[[str], None] | None = None) -> str | None:
    """Why the campaign's scheduled runs have nothing to do (its stage, or "unknown" when
    this state store has no record of it), once its schedules are switched off (``stop``);
    None when it is running. Read before anything else a run does: a stopped campaign
    costs no more."""
    camp = (state or StateStore(get_settings().state_url)).campaign(request_id)
    if camp is not None and camp.stage not in STOPPED:
        return None
    (stop or stop_schedules)(request_id)
    return camp.stage if camp is not None else "unknown"


def stop_schedules(request_id: str) -> None:
    """Pause the campaign's schedules (its tick and any simulated workforce)."""
    _set_paused(request_id, True)


def start_schedules(request_id: str) -> None:
    _set_paused(request_id, False)


def _set_paused(request_id: str, paused: bool) -> None:
    from prefect.client.orchestration import get_client
    with get_client(sync_client=True) as client:
        for name in (TICK_FLOW, SIMULATION_FLOW):
            dep = _deployment(client, name, request_id)
            if dep is not None:
                (client.pause_deployment if paused else client.resume_deployment)(dep.id)


def change_stage(request_id: str, action: str) -> str:
    """pause | resume | cancel, under the campaign's lock; returns the stage now."""
    from annoflow.errors import AnnoflowError
    from tasks.locks import campaign_lock

    state = StateStore(get_settings().state_url)
    with campaign_lock(request_id):
        camp = state.campaign(request_id)
        if camp is None:
            raise AnnoflowError(f"no campaign {request_id!r} in {state.where}")
        if camp.stage in ("delivered", "cancelled"):
            raise AnnoflowError(f"campaign {request_id} is {camp.stage}; it cannot be "
                                f"{action}d")
        if action == "pause":
            state.set_stage(request_id=request_id, stage="paused", reason="paused by the "
                            "delivery manager", actor="cli")
            stop_schedules(request_id)
        elif action == "resume":
            if camp.stage != "paused":
                raise AnnoflowError(f"campaign {request_id} is {camp.stage}, not paused")
            state.set_stage(request_id=request_id, stage="producing" if camp.ls_project_id
                            else "submitted", actor="cli")
            start_schedules(request_id)
        elif action == "cancel":
            state.set_stage(request_id=request_id, stage="cancelled",
                            reason="cancelled by the delivery manager", actor="cli")
            stop_schedules(request_id)
            from connectors.label_studio import LabelStudioClient
            for pid in (camp.ls_project_id, camp.qualification_project_id):
                if pid is not None:  # nobody works on it any more
                    LabelStudioClient(get_settings()).set_access(
                        project_id=pid, members=[], probes=None, gold_rate=0.0)
        else:
            raise ValueError(action)
        return state.campaign(request_id).stage
