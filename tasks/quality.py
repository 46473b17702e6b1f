"""Stage 4, qc: the layered checks over the synced judgments, and the gate."""
from __future__ import annotations

import json
import logging

from dataclasses import replace

import pandas as pd

from annoflow.judgments import counted, set_aside_summary
from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from qc.checks import CheckResult, gate
from qc.pipeline import QCConfig, QCResult, run_layers, run_text_layers
from qc.review import ReviewSummary, apply_review
from tasks import stage
from tasks.services import Publisher, prefect_artifact

log = logging.getLogger("annoflow.qc")


def to_contract(judged: pd.DataFrame) -> pd.DataFrame:
    """The judgments that count (``annoflow.judgments.counted``) -> the long QC contract
    (see qc.contract), one row per field."""
    cols = ["task", "worker", "field", "label", "lead_time_s", "is_gold"]
    if not len(judged):
        return pd.DataFrame(columns=cols).astype({"lead_time_s": "float64", "is_gold": bool})
    # each distinct answer is parsed once (a choice task has a handful of them)
    fields = {a: list(json.loads(a).items()) for a in pd.unique(judged["answer_json"])}
    pairs = judged["answer_json"].map(fields)
    n = pairs.map(len).to_numpy()
    flat = [p for ps in pairs for p in ps]
    df = pd.DataFrame({
        "task": judged["item_id"].to_numpy().repeat(n),
        "worker": judged["expert_id"].to_numpy().repeat(n),
        "field": [f for f, _ in flat], "label": [v for _, v in flat],
        "lead_time_s": judged["lead_time_s"].to_numpy(dtype="float64").repeat(n),
        "is_gold": judged["is_gold"].astype(bool).to_numpy().repeat(n)})
    if "created_at" in judged.columns:  # (copy detection: who submitted first)
        df["created_at"] = judged["created_at"].to_numpy().repeat(n)
    return df.reset_index(drop=True)


def gold_answers(items: pd.DataFrame) -> pd.DataFrame:
    """Gold items' answers as (task, field, label)."""
    rows = [(r.item_id, f, v) for r in items[items["is_gold"]].itertuples()
            for f, v in json.loads(r.gold_answer).items()]
    return pd.DataFrame(rows, columns=["task", "field", "label"])


def qc_config(spec: RequestSpec) -> QCConfig:
    tt = get_task_type(spec.task.type)
    level = tt.level(spec.task)
    tolerance = spec.qc.gold_tolerance if spec.qc.gold_tolerance is not None else \
        (1 if level == "ordinal" else 0)
    return QCConfig(min_gold_accuracy=spec.qc.min_gold_accuracy, aggregation=spec.qc.aggregation,
                    min_gold_judgments=spec.qc.min_gold_judgments,
                    gold_rule=spec.qc.accuracy_rule, drift_alpha=spec.qc.drift_alpha,
                    min_speed_ratio=spec.qc.min_speed_ratio, level=level,
                    max_top_label_share=spec.qc.max_top_label_share,
                    min_judgments_for_straight_lining=spec.qc.min_judgments_for_straight_lining,
                    gold_tolerance=tolerance, max_flagged_share=spec.qc.max_flagged_share,
                    min_chars=tt.min_chars(spec.task), sides=tt.sides(spec.task))


def qc_markdown(spec: RequestSpec, result: QCResult) -> str:
    s = result.stats()
    alpha = "n/a" if s.krippendorff_alpha is None else f"{s.krippendorff_alpha:.4f}"
    md = [f"# QC: {spec.request_id}", "",
          f"Krippendorff's alpha: **{alpha}** · items with a result: "
          f"**{s.items_delivered}** · annotators excluded: **{s.annotators_excluded}** of "
          f"{s.annotators}", "", "| check | layer | result | summary |", "|---|---|---|---|"]
    md += [f"| {c.name} | {c.layer} | {'pass' if c.passed else c.severity} | {c.summary} |"
           for c in result.checks]
    md += ["", "| annotator | judgments | gold accuracy | median s | excluded |", "|---|---|---|---|---|"]
    for w, r in result.workers.iterrows():
        acc = "n/a" if pd.isna(r.accuracy) else f"{r.accuracy:.0%} ({int(r.n_correct)}/{int(r.n_gold)})"
        md.append(f"| {w} | {int(r.n_judgments)} | {acc} | {r.median_lead_time_s:.0f} | "
                  f"{r.exclusion_reason or ''} |")
    return "\n".join(md)


def assess(spec: RequestSpec, items: pd.DataFrame, synced: pd.DataFrame,
           removed: dict[str, str] | None = None,
           swap_probes: pd.DataFrame | None = None) -> QCResult:
    """L1-L5 on the synced judgments, by the task type's kind of work (pure; no gate).
    ``removed``: experts removed while the campaign ran (expert -> why), excluded;
    ``swap_probes``: the synced answers to swap probes (self-consistency), when the
    campaign has them."""
    tt = get_task_type(spec.task.type)
    judged, aside = counted(synced)
    contract = to_contract(judged)
    if "swapped" in items.columns and len(contract):  # (position bias: what was on the left)
        shown = items.set_index("item_id")["swapped"].fillna(False).astype(bool)
        contract["swapped"] = contract["task"].map(shown).fillna(False).astype(bool)
    probes = to_contract(counted(swap_probes)[0]) \
        if swap_probes is not None and len(swap_probes) else None
    if tt.free_text:
        prompts = items.set_index("item_id")["prompt"]
        result = run_text_layers(contract, prompts, qc_config(spec),
                                 check=lambda text: tt.check_text(spec.task, text),
                                 removed=removed)
    else:
        result = run_layers(contract, gold_answers(items), qc_config(spec), removed=removed,
                            swap_probes=probes)
    summary, metrics = set_aside_summary(aside)
    return replace(result, checks=[CheckResult(
        "judgments_set_aside", "L0", passed=True, severity="warning" if len(aside) else "info",
        summary=summary, metrics=metrics), *result.checks])


@stage(name="quality-control")
def quality_control(spec: RequestSpec, items: pd.DataFrame, synced: pd.DataFrame,
                    removed: dict[str, str] | None = None,
                    publish: Publisher = prefect_artifact,
                    review: ReviewSummary | None = None,
                    swap_probes: pd.DataFrame | None = None) -> QCResult:
    """Run L1-L5 on the judgments, with the expert review's verdicts (L4) when there was
    one; raise QCGateFailed if a blocking check fails."""
    result = assess(spec, items, synced, removed, swap_probes)
    if review is not None:
        result = apply_review(result, review, get_task_type(spec.task.type).free_text)
    publish(key=f"{spec.request_id}-qc", markdown=qc_markdown(spec, result),
            description=f"QC summary for {spec.request_id}")
    for w, r in result.excluded_workers.iterrows():
        log.info("excluded annotator %s: %s", w, r.exclusion_reason)
    s = result.stats()
    log.info("qc: %s; %d of %d annotators excluded; %d items with a result",
             next(c.summary for c in result.checks if c.name in ("agreement", "text_checks")),
             s.annotators_excluded, s.annotators, s.items_delivered)
    gate(result.checks, s)
    return result
