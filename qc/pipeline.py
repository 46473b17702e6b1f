"""The QC layers composed for one campaign's judgments (pure; no I/O).

L1 behaviour and L2 gold accuracy decide who is excluded; their judgments are dropped;
L3 agreement is measured on the rest; L5 aggregates one label per non-gold item.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from qc.agreement import Level, krippendorff_alpha
from qc.aggregation import AGGREGATORS
from qc.behaviour import behaviour_stats
from qc.checks import CheckResult
from qc.contract import check_annotations, gold_series
from qc.gold import gold_accuracy

MIN_COVERAGE = 0.95


@dataclass(frozen=True)
class QCConfig:
    min_gold_accuracy: float
    aggregation: str = "dawid_skene"
    min_gold_judgments: int = 5
    min_speed_ratio: float = 0.25
    level: Level = "nominal"


@dataclass(frozen=True)
class QCResult:
    workers: pd.DataFrame      # per worker: gold, behaviour, excluded, exclusion_reason
    judgments: pd.DataFrame    # input rows + excluded, exclusion_reason
    aggregated: pd.DataFrame   # task, label, confidence, n_judgments (non-gold tasks)
    unresolved: list[str]      # non-gold tasks left with no kept judgment
    alpha: float
    level: str
    checks: list[CheckResult]

    @property
    def excluded_workers(self) -> pd.DataFrame:
        return self.workers[self.workers["excluded"]]

    def stats(self) -> dict[str, Any]:
        def num(x: float) -> float | None:
            return None if x is None or np.isnan(x) else round(float(x), 4)
        return {
            "krippendorff_alpha": num(self.alpha),
            "agreement_level": self.level,
            "annotators": int(len(self.workers)),
            "annotators_excluded": int(self.workers["excluded"].sum()),
            "judgments": int(len(self.judgments)),
            "judgments_kept": int((~self.judgments["excluded"]).sum()),
            "items_aggregated": int(len(self.aggregated)),
            "items_unresolved": len(self.unresolved),
            "mean_confidence": num(self.aggregated["confidence"].mean()) if len(self.aggregated) else None,
        }


def _exclusions(workers: pd.DataFrame, cfg: QCConfig) -> pd.Series:
    reasons = pd.Series("", index=workers.index, dtype=object)
    enough = workers["n_gold"] >= cfg.min_gold_judgments
    low = enough & (workers["accuracy"] < cfg.min_gold_accuracy)
    reasons[low] = workers.loc[low].apply(
        lambda r: f"gold accuracy {r.accuracy:.1%} < {cfg.min_gold_accuracy:.0%} "
                  f"({int(r.n_correct)}/{int(r.n_gold)})", axis=1)
    if cfg.min_speed_ratio > 0:
        fast = workers["speed_ratio"] < cfg.min_speed_ratio
        text = workers.loc[fast].apply(
            lambda r: f"median {r.median_lead_time_s:.0f} s per judgment, "
                      f"{r.speed_ratio:.0%} of the crowd's", axis=1)
        for w, t in text.items():
            reasons[w] = f"{reasons[w]}; {t}" if reasons[w] else t
    return reasons


def run_layers(annotations: pd.DataFrame, gold: pd.DataFrame | pd.Series,
               cfg: QCConfig) -> QCResult:
    data = check_annotations(annotations).copy()
    truth = gold_series(gold)
    if "is_gold" not in data.columns:
        data["is_gold"] = data["task"].isin(truth.index)
    checks: list[CheckResult] = []

    beh = behaviour_stats(data)
    acc = gold_accuracy(data, truth)
    workers = beh.join(acc, how="outer")
    reasons = _exclusions(workers, cfg)
    workers["excluded"] = reasons.ne("")
    workers["exclusion_reason"] = reasons.where(workers["excluded"], None)

    fast = workers.index[workers["speed_ratio"] < cfg.min_speed_ratio] if cfg.min_speed_ratio > 0 else []
    checks.append(CheckResult(
        "speed", "L1", passed=len(fast) == 0, severity="warning",
        summary=(f"{len(fast)} annotator(s) answered far faster than the crowd"
                 if len(fast) else "no annotator answered implausibly fast"),
        metrics={"flagged": list(map(str, fast)),
                 "crowd_median_lead_time_s": float(beh["median_lead_time_s"].median())}))
    low = workers.index[(workers["n_gold"] >= cfg.min_gold_judgments)
                        & (workers["accuracy"] < cfg.min_gold_accuracy)]
    thin = workers.index[workers["n_gold"] < cfg.min_gold_judgments]
    checks.append(CheckResult(
        "gold_accuracy", "L2", passed=len(low) == 0, severity="warning",
        summary=(f"{len(low)} annotator(s) under {cfg.min_gold_accuracy:.0%} on gold"
                 + (f"; {len(thin)} with too few gold judgments to judge" if len(thin) else "")),
        metrics={"below_threshold": list(map(str, low)), "too_few_gold": list(map(str, thin)),
                 "median_accuracy": float(workers["accuracy"].median())}))

    data["excluded"] = data["worker"].map(workers["excluded"]).astype(bool)
    data["exclusion_reason"] = data["worker"].map(workers["exclusion_reason"])
    kept = data[~data["excluded"]]

    alpha = krippendorff_alpha(kept, level=cfg.level) if len(kept) else float("nan")
    checks.append(CheckResult(
        "agreement", "L3", passed=not np.isnan(alpha), severity="warning",
        summary=f"Krippendorff's alpha ({cfg.level}) = {alpha:.3f} over kept judgments",
        metrics={"alpha": None if np.isnan(alpha) else float(alpha)}))

    work = kept[~kept["is_gold"]]
    all_items = data.loc[~data["is_gold"], "task"].unique()
    if len(work):
        est = AGGREGATORS[cfg.aggregation]().fit(work[["task", "worker", "label"]])
        n = work.groupby("task").size()
        aggregated = pd.DataFrame({"task": est.labels_.index, "label": est.labels_.to_numpy(),
                                   "confidence": est.confidence_.to_numpy(),
                                   "n_judgments": n.reindex(est.labels_.index).to_numpy()})
    else:
        aggregated = pd.DataFrame(columns=["task", "label", "confidence", "n_judgments"])
    unresolved = sorted(set(all_items) - set(aggregated["task"]))
    coverage = len(aggregated) / len(all_items) if len(all_items) else 0.0
    checks.append(CheckResult(
        "coverage", "L5", passed=coverage >= MIN_COVERAGE, severity="error",
        summary=f"{len(aggregated)} of {len(all_items)} items have a label after exclusions "
                f"({coverage:.0%}; at least {MIN_COVERAGE:.0%} needed)",
        metrics={"coverage": coverage, "unresolved": unresolved[:50]}))
    return QCResult(workers=workers, judgments=data, aggregated=aggregated,
                    unresolved=unresolved, alpha=alpha, level=cfg.level, checks=checks)
