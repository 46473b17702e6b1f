"""What crosses from a campaign's flows to the people who follow it: QC's figures, the
result of a delivered campaign and of one tick (typed; stored as JSON in the state store
and in each delivery's manifest)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from annoflow.plan import CampaignPlan


class AnnotatorStats(BaseModel):
    """One annotator's figures (in a manifest: under their per-client pseudonym)."""
    annotator: str
    judgments: int
    excluded: bool
    gold_judged: int | None = None
    gold_right: int | None = None
    gold_accuracy: float | None = None
    gold_accuracy_ci: tuple[float, float] | None = None   # 95% Wilson interval
    median_lead_time_s: float | None = None
    alpha_without: float | None = None     # Krippendorff's alpha with them left out
    # accuracy from gold and agreement with the others (the end-of-campaign rule's figure)
    estimated_accuracy: float | None = None
    estimated_accuracy_ci: tuple[float, float] | None = None   # 95% Wilson interval
    estimated_from: int | None = None      # judgments it rests on
    # reference label (the gold answer, else the delivered label) -> their label -> count
    confusion: dict[str, dict[str, int]] | None = None
    # the other rules' figures, where the campaign has them
    model_accuracy: float | None = None    # the Dawid-Skene model's estimate of their accuracy
    speed_ratio: float | None = None       # their median time over the crowd's
    top_label_share: float | None = None   # straight-lining: their most given answer's share
    left_share: float | None = None        # position bias: share of picks on the left
    left_p_value: float | None = None
    drift_p_value: float | None = None     # drift: one-sided trend test of their scores
    drift_late_accuracy: float | None = None   # ... and their later work's accuracy
    drift_late_ci_high: float | None = None
    swap_probes: int | None = None         # swap probes answered (their item judged too)
    swap_consistency: float | None = None  # ... answered as the item was


class QCStats(BaseModel):
    """QC's figures for one campaign's judgments (``qc.pipeline.QCResult.stats``), at full
    precision (round only to display)."""
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
    #: L3 on the kept judgments (voted work): Fleiss' kappa (nominal), by field where there
    #: are several; Cohen's kappa between every two annotators with 5+ shared judgments
    #: (annotator -> annotator -> kappa); per-item agreement (share of agreeing pairs): its
    #: mean and a histogram of 10 bins over [0, 1]
    fleiss_kappa: float | None = None
    fleiss_kappa_by_field: dict[str, float | None] | None = None
    cohen_kappa: dict[str, dict[str, float]] | None = None
    item_agreement_mean: float | None = None
    item_agreement_histogram: list[int] | None = None
    annotators_detail: list[AnnotatorStats] | None = None
    # pairwise work with the models named: Bradley–Terry over the delivered preferences
    # (model, score, ci_low, ci_high, wins, comparisons, component, rank), best first
    rankings: list[dict[str, str | float | int]] | None = None
    #: L4 expert review of a sample (``qc.review.ReviewSummary.stats``): sampled, reviewed,
    #: accepted, corrected, rejected, unreadable, acceptance, acceptance_ci, min_acceptance,
    #: by_reviewer (reviewer -> counts)
    review: dict[str, Any] | None = None


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
    plan: CampaignPlan | None = None       # the plan made when it was (last) submitted
    prefect_flow_run_url: str | None = None


class ExpertState(BaseModel):
    expert_id: str
    state: str                       # active, idle (nothing in the last hour), removed, released
    reason: str | None = None
    since: str | None = None         # when the state was recorded (removed, released)
    judgments: int = 0


class Throughput(BaseModel):
    last_hour: float = 0.0           # judgments per hour
    last_day: float = 0.0


class Progress(BaseModel):
    """Where a campaign stands, as its last tick recorded it (``progress.json`` in the raw
    zone; what `annoflow status` shows and the next tick reads back)."""
    at: str
    stage: str
    tasks_complete: int
    tasks: int
    judgments: int
    judgments_remaining: int = 0
    throughput_per_hour: Throughput = Throughput()
    eta: str | None = None
    cost_usd: float = 0.0
    budget_usd: float | None = None
    experts_active: int = 0
    experts: list[ExpertState] = []
    alerts: list[str] = []
    quiet_since: str | None = None   # no new judgment since
    extra_judgments: int = 0         # asked beyond the spec's overlap (dynamic overlap)
    items_with_extra: int = 0
    set_aside: dict[str, Any] = {}   # judgments that do not count (annoflow.judgments)
    reconciliation: dict[str, Any] = {}  # the last full reconciliation: when, what it found
    sync_watermark: str | None = None    # where the next tick's sync starts

    @property
    def removed(self) -> list[str]:
        return [x.expert_id for x in self.experts if x.state == "removed"]


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
    reviewed: int | None = None      # L4: sampled units with a verdict so far (while reviewing)
    review_sample: int | None = None  # L4: units sampled for review
