"""Where a campaign stands, read from what its ticks recorded: the stage (state store),
the progress snapshot of the last tick (raw zone: progress, throughput, ETA, cost, each
expert's state, alerts), the result once delivered, and the last tick in Prefect. Label
Studio is not asked: a view of many campaigns costs nothing there. Not a Prefect task."""
from __future__ import annotations

import json
from typing import Any

from annoflow.errors import AnnoflowError
from annoflow.settings import get_settings
from connectors.state import StateStore
from tasks.stages import last_progress


#: the latest tick runs `status` reads (and counts failures among)
RECENT_RUNS = 5


def _last_tick(request_id: str) -> tuple[str | None, str | None, str | None]:
    """The last tick run's state and address, and an alert when the latest runs failed."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (DeploymentFilter, DeploymentFilterName,
                                                FlowRunFilter, FlowRunFilterState,
                                                FlowRunFilterStateType)
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[request_id])),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                    any_=[StateType.COMPLETED, StateType.FAILED, StateType.CRASHED,
                          StateType.RUNNING]))),
                sort=FlowRunSort.START_TIME_DESC, limit=RECENT_RUNS)
    except Exception:  # status stays useful without Prefect
        return None, None, None
    runs = [r for r in runs if r.name == request_id]  # the tick's runs (not the simulation's)
    if not runs:
        return None, None, None
    failed = 0
    for r in runs:
        if r.state_type not in (StateType.FAILED, StateType.CRASHED):
            break
        failed += 1
    alert = None
    if failed:
        why = (runs[0].state.message or "").strip() if runs[0].state else ""
        more = "+" if failed == len(runs) == RECENT_RUNS else ""
        alert = (f"the last {failed}{more} tick run(s) failed; the campaign does not advance "
                 f"until one succeeds"
                 + (f": {why}" if why else ""))
    return (runs[0].state_name, f"{get_settings().prefect_ui_url}/runs/flow-run/{runs[0].id}",
            alert)


def campaign_status(request_id: str) -> dict[str, Any]:
    settings = get_settings()
    state = StateStore(settings.state_url)
    camp = state.campaign(request_id)
    if camp is None:
        raise AnnoflowError(f"no campaign {request_id!r} in annoflow's state store "
                            f"({state.where})")
    st: dict[str, Any] = {
        "request_id": request_id, "client": camp.client, "stage": camp.stage,
        "stage_reason": camp.stage_reason,
        "stage_at": camp.stage_at.isoformat(timespec="seconds") if camp.stage_at else None,
        "progress": (p.model_dump(mode="json") if (p := last_progress(request_id)) else None),
        "label_studio_project_url": (f"{settings.label_studio_url.rstrip('/')}/projects/"
                                     f"{camp.ls_project_id}/data" if camp.ls_project_id else None),
        "audit": state.audit_log(request_id)[-20:],
    }
    if camp.result_json:
        result = json.loads(camp.result_json)
        st.update(result={k: result[k] for k in ("items", "annotations", "qc",
                                                 "excluded_experts")},
                  delivery_uri=result["delivery_uri"], manifest_uri=result["manifest_uri"])
    st["last_tick_state"], st["prefect_flow_run_url"], st["tick_alert"] = _last_tick(request_id)
    return st


def all_campaigns() -> list[dict[str, Any]]:
    """One line per campaign in the state store."""
    rows = []
    for camp in StateStore(get_settings().state_url).campaigns():
        p = last_progress(camp.request_id)
        rows.append({"request_id": camp.request_id, "client": camp.client, "stage": camp.stage,
                     **{k: getattr(p, k) if p else None
                        for k in ("tasks_complete", "tasks", "judgments", "eta", "cost_usd")}})
    return rows
