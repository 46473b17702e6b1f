"""Where a campaign stands, rebuilt from the systems that hold its state: the raw zone
(the spec it ran with), Label Studio (progress), the client bucket (the manifest) and
Prefect (the last run). Used by ``annoflow status``; not a Prefect task."""
from __future__ import annotations

import json
from typing import Any

from annoflow.errors import AnnoflowError
from annoflow.layout import DeliveryLayout, RawZone
from annoflow.settings import get_settings
from annoflow.spec import RequestSpec
from connectors.label_studio import LabelStudioClient
from connectors.s3 import S3Store
from connectors.state import StateStore
from tasks.delivery import VERSION


def _last_flow_run(request_id: str) -> tuple[str | None, str | None]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    try:
        with get_client(sync_client=True) as client:
            runs = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[request_id])),
                sort=FlowRunSort.START_TIME_DESC, limit=1)
    except Exception:  # status stays useful without Prefect
        return None, None
    if not runs:
        return None, None
    ui = get_settings().prefect_ui_url
    return runs[0].state_name, f"{ui}/runs/flow-run/{runs[0].id}"


def campaign_status(request_id: str) -> dict[str, Any]:
    settings = get_settings()
    store, ls = S3Store(settings), LabelStudioClient(settings)
    raw = RawZone(settings.raw_zone_uri, request_id)
    st: dict[str, Any] = {"request_id": request_id, "status": "not_found", "delivery_uri": None,
                          "manifest_uri": None, "items": 0, "annotations": 0}
    spec_bytes = store.get_bytes(uri=raw.spec)
    spec = RequestSpec.model_validate_json(spec_bytes) if spec_bytes else None
    camp = StateStore(settings.state_url).campaign(request_id)
    project = (ls.get_project(project_id=camp.ls_project_id)
               if camp is not None and camp.ls_project_id is not None else None)
    if spec is None and project is None:
        raise AnnoflowError(f"no campaign {request_id!r} found: nothing in the raw zone "
                            f"{raw.base}/ and no Label Studio project for it")
    st["status"] = "scoped"
    if project is not None:
        p = ls.progress(project_id=project.id)
        st.update(status="in_production", label_studio_project_url=project.url, items=p.tasks,
                  annotations=p.annotations,
                  progress=f"{p.finished_tasks}/{p.tasks} tasks complete, "
                           f"{p.annotations} annotations")
    snapshot = store.get_bytes(uri=raw.progress)
    if snapshot is not None:
        st["last_sync"] = json.loads(snapshot)
    if spec is not None:
        layout = DeliveryLayout(spec.delivery.uri, request_id, VERSION)
        manifest = store.get_bytes(uri=layout.manifest)
        if manifest is not None:
            m = json.loads(manifest)
            rows = {f["path"]: f["rows"] for f in m["files"]}
            st.update(status="delivered", delivery_uri=layout.base, manifest_uri=layout.manifest,
                      items=rows[layout.DATA], annotations=m["qc"]["annotations"], qc=m["qc"])
    state, url = _last_flow_run(request_id)
    st.update(last_run_state=state, prefect_flow_run_url=url)
    return st
