"""The campaign flow: scope -> source -> produce -> qc -> deliver, keyed by request_id.

Every stage is idempotent: rerunning the flow on the same spec finds the project, tasks,
users and objects it already made and carries on from there.
"""
from __future__ import annotations

from typing import Any

from prefect import flow

from annoflow.spec import RequestSpec
from tasks.delivery import deliver
from tasks.locks import campaign_lock
from tasks.production import collect_annotations, setup_project
from tasks.quality import quality_control
from tasks.scoping import scope_campaign
from tasks.sourcing import onboard_experts


@flow(name="campaign", flow_run_name="{spec.request_id}", validate_parameters=False)
def campaign(spec: RequestSpec, wait_timeout_s: float = 86_400, poll_interval_s: float = 10.0,
             spec_change: str | None = None) -> dict[str, Any]:
    with campaign_lock(spec.request_id):  # one run of a campaign at a time
        scoped = scope_campaign(spec, spec_change)
        roster = onboard_experts(spec, scoped.roster)
        project = setup_project(spec, scoped.items, roster)
        synced = collect_annotations(spec, project, scoped.items, roster, wait_timeout_s,
                                     poll_interval_s)
        qc = quality_control(spec, scoped.items, synced)
        delivery = deliver(spec, scoped.items, synced, qc)
    return {
        "request_id": spec.request_id,
        "status": "delivered",
        "delivery_uri": delivery.uri,
        "manifest_uri": delivery.manifest_uri,
        "items": delivery.rows,
        "annotations": delivery.annotations,
        "reused_delivery": delivery.reused,
        "label_studio_project_url": project.url,
        "qc": delivery.manifest["qc"],
        "excluded_experts": [{"expert_id": w, "reason": r}
                             for w, r in qc.excluded_workers["exclusion_reason"].items()],
        "plan": scoped.plan.model_dump(mode="json"),
    }
