"""What crosses from a campaign's flows to the people who follow it: QC's figures, the
result of a delivered campaign and of one tick (typed; stored as JSON in the state store
and in each delivery's manifest)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class QCStats(BaseModel):
    """QC's figures for one campaign's judgments (``qc.pipeline.QCResult.stats``)."""
    krippendorff_alpha: float | None
    agreement_level: str
    annotators: int
    annotators_excluded: int
    annotations: int                 # one per (item, expert)
    judgments: int                   # one per (item, field, expert)
    judgments_kept: int
    items_delivered: int
    items_unresolved: int
    mean_confidence: float | None = None          # voted work only
    krippendorff_alpha_by_field: dict[str, float | None] | None = None  # several fields only


class ExcludedExpert(BaseModel):
    expert_id: str
    reason: str


class CampaignResult(BaseModel):
    """A delivered campaign, as `annoflow run` prints it and `--json` returns it."""
    request_id: str
    status: str = "delivered"
    delivery_uri: str
    manifest_uri: str
    items: int
    annotations: int
    reused_delivery: bool
    label_studio_project_url: str | None
    qc: QCStats
    excluded_experts: list[ExcludedExpert]
    plan: dict[str, Any] | None = None     # the campaign plan (annoflow.plan.CampaignPlan)
    prefect_flow_run_url: str | None = None


class TickResult(BaseModel):
    """What one tick did."""
    request_id: str
    stage: str
    skipped: str | None = None       # why the tick did nothing
    synced: int = 0                  # new raw-zone rows
    actions: list[dict[str, Any]] = []
    tasks_complete: int = 0
    tasks: int = 0
    ticks: int = 1                   # ticks in the run (the last one is reported)
