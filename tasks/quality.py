"""Stage 4, qc: the layered checks over the synced judgments, and the gate."""
from __future__ import annotations

import logging

import pandas as pd
from prefect.artifacts import create_markdown_artifact

from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from qc.checks import gate
from qc.pipeline import QCConfig, QCResult, run_layers
from tasks import compute_task

log = logging.getLogger("annoflow.qc")


def to_contract(synced: pd.DataFrame) -> pd.DataFrame:
    """Raw annotation rows -> the long QC contract (see qc.contract)."""
    valid = synced[~synced["was_cancelled"] & synced["label"].notna()]
    return pd.DataFrame({"task": valid["item_id"].to_numpy(), "worker": valid["expert_id"].to_numpy(),
                         "label": valid["label"].to_numpy(),
                         "lead_time_s": valid["lead_time_s"].astype("float64").to_numpy(),
                         "is_gold": valid["is_gold"].astype(bool).to_numpy()})


def qc_markdown(spec: RequestSpec, result: QCResult) -> str:
    s = result.stats()
    md = [f"# QC: {spec.request_id}", "",
          f"Krippendorff's alpha: **{s['krippendorff_alpha']}** · items aggregated: "
          f"**{s['items_aggregated']}** · annotators excluded: **{s['annotators_excluded']}** of "
          f"{s['annotators']}", "", "| check | layer | result | summary |", "|---|---|---|---|"]
    md += [f"| {c.name} | {c.layer} | {'pass' if c.passed else c.severity} | {c.summary} |"
           for c in result.checks]
    md += ["", "| annotator | judgments | gold accuracy | median s | excluded |", "|---|---|---|---|---|"]
    for w, r in result.workers.iterrows():
        acc = "n/a" if pd.isna(r.accuracy) else f"{r.accuracy:.0%} ({int(r.n_correct)}/{int(r.n_gold)})"
        md.append(f"| {w} | {int(r.n_judgments)} | {acc} | {r.median_lead_time_s:.0f} | "
                  f"{r.exclusion_reason or ''} |")
    return "\n".join(md)


@compute_task(name="quality-control")
def quality_control(spec: RequestSpec, items: pd.DataFrame, synced: pd.DataFrame) -> QCResult:
    """Run L1-L5 on the judgments; raise QCGateFailed if a blocking check fails."""
    gold = items.loc[items["is_gold"], ["item_id", "gold_label"]].rename(
        columns={"item_id": "task", "gold_label": "label"})
    cfg = QCConfig(min_gold_accuracy=spec.qc.min_gold_accuracy, aggregation=spec.qc.aggregation,
                   min_gold_judgments=spec.qc.min_gold_judgments,
                   min_speed_ratio=spec.qc.min_speed_ratio,
                   level=get_task_type(spec.task.type).measurement)
    result = run_layers(to_contract(synced), gold, cfg)
    create_markdown_artifact(key=f"{spec.request_id}-qc", markdown=qc_markdown(spec, result),
                             description=f"QC summary for {spec.request_id}")
    for w, r in result.excluded_workers.iterrows():
        log.info("excluded annotator %s: %s", w, r.exclusion_reason)
    s = result.stats()
    log.info("qc: alpha %.3f over kept judgments; %d of %d annotators excluded; %d items aggregated",
             s["krippendorff_alpha"] or float("nan"), s["annotators_excluded"], s["annotators"],
             s["items_aggregated"])
    gate(result.checks, s)
    return result
