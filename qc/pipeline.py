"""The QC layers composed for one campaign's judgments (pure; no I/O).

Voted work (``run_layers``): L1 behaviour and L2 gold accuracy decide who is excluded;
their judgments are dropped; L3 agreement is measured on the rest (overall and per
field); L5 aggregates one label per (task, field) on non-gold tasks.

Free-text work (``run_text_layers``): automatic checks flag texts (``qc.text``);
annotators with too many flagged texts, or far too fast, are excluded; the accepted
texts are the outcome.

Judgments may carry a ``field`` column (one judged question of a task, e.g. a rubric
criterion); QC then treats each (task, field) as its own unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from annoflow.results import AnnotatorStats, QCStats
from qc.agreement import (Level, alpha_without_each_worker, cohen_kappa_matrix, fleiss_kappa,
                          item_agreement, krippendorff_alpha)
from qc.aggregation import DawidSkene, aggregator
from qc.behaviour import behaviour_stats, position_bias, swap_consistency
from qc.checks import CheckResult
from qc.contract import check_annotations, checked_once, gold_series
from qc.copying import COPY_COLUMNS, copy_pairs, copy_reasons
from qc.drift import DRIFT_COLUMNS, drift, drift_reason
from qc.gold import estimated_accuracy, gold_accuracy, judgment_scores
from qc.review import ReviewSummary
from qc.text import text_flags

MIN_COVERAGE = 0.95
SEP = "\x1f"


@dataclass(frozen=True)
class QCConfig:
    min_gold_accuracy: float = 0.7
    #: ``qc.aggregation.aggregator``'s name: "weighted" (by the scale: Dawid-Skene on
    #: nominal labels, ``OrdinalDawidSkene`` on ordinal ones), "dawid_skene", "majority_vote"
    aggregation: str = "weighted"
    min_gold_judgments: int = 5
    min_speed_ratio: float = 0.25
    level: Level = "nominal"
    gold_tolerance: float = 0
    max_flagged_share: float = 0.5
    max_top_label_share: float | None = None
    min_judgments_for_straight_lining: int = 20
    min_chars: int = 1
    #: the end-of-campaign accuracy rule: "interval" (the accuracy estimated from gold and
    #: agreement confidently under the bar) or "point" (gold alone; see ``_accuracy_rule``)
    gold_rule: str = "interval"
    #: side-by-side work: label -> "left" | "right" (see ``qc.behaviour.position_bias``)
    sides: dict[str, str] | None = None
    #: drift (``qc.drift``): exclude an annotator whose scores fall over their own
    #: submission order (one-sided trend test under this p; 0 disables) to confidently under
    #: ``min_gold_accuracy`` in their last ``drift_window`` share of work. Needs gold,
    #: ``gold_rule`` "interval" and submission times
    drift_alpha: float = 0.05
    drift_window: float = 0.5


@dataclass(frozen=True)
class QCResult:
    workers: pd.DataFrame      # per worker: behaviour, gold, excluded, exclusion_reason
    judgments: pd.DataFrame    # input rows + excluded, exclusion_reason (+ flag for text)
    outcome: pd.DataFrame      # voted: task, field, label, confidence, n_judgments
                               # free text: task, worker, value (accepted texts)
    unresolved: list[str]      # non-gold tasks left with nothing to deliver
    alpha: float
    level: str
    checks: list[CheckResult]
    alpha_by_field: dict[str, float] = field(default_factory=dict)
    agreement: "Agreement | None" = None
    #: voted work: worker, reference (the gold answer, else the delivered label), label, n
    confusion: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["worker", "reference", "label", "n"]))
    #: L4: the expert review of a sample, once it is done (``qc.review.apply_review``)
    review: "ReviewSummary | None" = None

    @property
    def excluded_workers(self) -> pd.DataFrame:
        return self.workers[self.workers["excluded"]]

    def _kept(self) -> pd.Series:
        kept = ~self.judgments["excluded"]
        return kept & self.judgments["flag"].isna() if "flag" in self.judgments else kept

    def stats(self) -> QCStats:
        def num(x: float | None) -> float | None:  # full precision: round only to display
            return None if x is None or np.isnan(x) else float(x)
        s = QCStats(
            krippendorff_alpha=num(self.alpha), agreement_level=self.level,
            annotators=int(len(self.workers)),
            annotators_excluded=int(self.workers["excluded"].sum()),
            annotations=int(len(self.judgments.drop_duplicates(["task", "worker"]))),
            judgments=int(len(self.judgments)), judgments_kept=int(self._kept().sum()),
            items_delivered=int(self.outcome["task"].nunique()),
            items_unresolved=len(self.unresolved))
        if "confidence" in self.outcome and len(self.outcome):
            s.mean_confidence = num(self.outcome["confidence"].mean())
        if len(self.alpha_by_field) > 1:
            s.krippendorff_alpha_by_field = {k: num(v) for k, v in self.alpha_by_field.items()}
        a = self.agreement
        if a is not None:
            s.fleiss_kappa = num(a.fleiss)
            if len(a.fleiss_by_field) > 1:
                s.fleiss_kappa_by_field = {k: num(v) for k, v in a.fleiss_by_field.items()}
            s.cohen_kappa = {str(x): {str(y): float(v) for y, v in row.items()
                                      if y != x and not np.isnan(v)}
                             for x, row in a.cohen.iterrows()}
            if len(a.items):
                s.item_agreement_mean = float(a.items.mean())
                s.item_agreement_histogram = [int(c) for c in np.histogram(
                    a.items.to_numpy(dtype=float), bins=10, range=(0.0, 1.0))[0]]
        s.annotators_detail = self._annotators(num)
        if self.review is not None:
            s.review = self.review.stats()
        return s

    def _annotators(self, num) -> list[AnnotatorStats]:
        w = self.workers
        n = self.judgments.drop_duplicates(["task", "worker"]).groupby("worker").size()
        loo = self.agreement.alpha_without if self.agreement is not None else pd.Series(dtype=float)
        confusion = {str(x): {str(ref): {str(lab): int(c) for lab, c in g.groupby("label")["n"].sum().items()}
                              for ref, g in per.groupby("reference")}
                     for x, per in self.confusion.groupby("worker")}
        out = []
        for x, r in w.iterrows():
            has_gold = "n_gold" in w and pd.notna(r.get("n_gold")) and r["n_gold"] > 0
            has_est = "est_n" in w and pd.notna(r.get("est_n")) and r["est_n"] > 0
            out.append(AnnotatorStats(
                annotator=str(x), judgments=int(n.get(x, 0)), excluded=bool(r["excluded"]),
                gold_judged=int(r["n_gold"]) if has_gold else None,
                gold_right=int(r["n_correct"]) if has_gold else None,
                gold_accuracy=num(r["accuracy"]) if has_gold else None,
                gold_accuracy_ci=(float(r["accuracy_ci_low"]), float(r["accuracy_ci_high"]))
                if has_gold else None,
                median_lead_time_s=num(r.get("median_lead_time_s")),
                alpha_without=num(loo.get(x)) if x in loo.index else None,
                estimated_accuracy=num(r["est_accuracy"]) if has_est else None,
                estimated_accuracy_ci=(float(r["est_ci_low"]), float(r["est_ci_high"]))
                if has_est else None,
                estimated_from=int(r["est_n"]) if has_est else None,
                confusion=confusion.get(str(x)),
                **{k: num(float(r[k])) for k in OTHER_FIGURES if k in w and pd.notna(r[k])}))
        return out


#: per-annotator figures of the other rules carried into ``AnnotatorStats`` as they are
OTHER_FIGURES = ("model_accuracy", "speed_ratio", "top_label_share", "left_share",
                 "left_p_value", "drift_p_value", "drift_late_accuracy", "drift_late_ci_high",
                 "swap_probes", "swap_consistency")


def _swap_check(swapped: pd.DataFrame) -> CheckResult:
    """L1, self-consistency on swap probes: measured and reported, never a reason to
    exclude on its own (a worker's answer may honestly change on a close pair)."""
    n = int(swapped["swap_probes"].sum())
    same = float((swapped["swap_probes"] * swapped["swap_consistency"]).sum() / n) if n else None
    low = swapped["swap_consistency"].idxmin() if len(swapped) else None
    return CheckResult(
        "swap_consistency", "L1", passed=True, severity="info",
        summary=(f"{n} swap probe(s) answered by {len(swapped)} annotator(s): the same answer "
                 f"both ways {same:.0%} of the time (the lowest annotator: "
                 f"{swapped.at[low, 'swap_consistency']:.0%} of "
                 f"{int(swapped.at[low, 'swap_probes'])})" if n else
                 "no swap probe was answered by an annotator who had judged its item"),
        metrics={"probes": n, "consistency": same,
                 "by_annotator": {str(w): {"probes": int(r.swap_probes),
                                           "consistency": float(r.swap_consistency)}
                                  for w, r in swapped.iterrows()}})


@dataclass(frozen=True)
class Agreement:
    """L3 beyond alpha, on the kept judgments (by unit: task, or task + field)."""
    fleiss: float                      # nominal, over all units
    fleiss_by_field: dict[str, float]
    cohen: pd.DataFrame                # worker x worker, nominal, 5+ shared units
    alpha_without: pd.Series           # worker -> alpha at the campaign's level
    items: pd.Series                   # task -> mean share of agreeing pairs over its fields


#: shared judgments two annotators need before their Cohen's kappa is reported
COHEN_MIN_SHARED = 5


def agreement(kept: pd.DataFrame, level: Level) -> Agreement:
    """``kept``: the kept judgments with ``unit`` and ``field`` (see ``run_layers``)."""
    units = kept.assign(task=kept["unit"])[["task", "worker", "label"]]
    by_field = {f: fleiss_kappa(g.assign(task=g["unit"])[["task", "worker", "label"]])
                for f, g in kept.groupby("field")} if kept["field"].nunique() > 1 else {}
    per_unit = item_agreement(units)
    task_of = kept.drop_duplicates("unit").set_index("unit")["task"]
    return Agreement(fleiss=fleiss_kappa(units), fleiss_by_field=by_field,
                     cohen=cohen_kappa_matrix(units, min_shared=COHEN_MIN_SHARED),
                     alpha_without=alpha_without_each_worker(units, level),
                     items=per_unit.groupby(task_of.reindex(per_unit.index).to_numpy()).mean())


def _units(data: pd.DataFrame) -> pd.DataFrame:
    """Add ``unit`` (task, or task + field) and a default ``field``."""
    data = data.copy()
    if "field" not in data.columns:
        data["field"] = ""
    data["unit"] = data["task"].astype(str) + SEP + data["field"].astype(str)
    return data


def _gold_units(gold: pd.DataFrame | pd.Series) -> pd.Series:
    if isinstance(gold, pd.DataFrame) and "field" in gold.columns:
        return pd.Series(gold["label"].to_numpy(),
                         index=gold["task"].astype(str) + SEP + gold["field"].astype(str))
    g = gold_series(gold)
    return pd.Series(g.to_numpy(), index=g.index.astype(str) + SEP)


def _worker_table(data: pd.DataFrame, by_unit: pd.DataFrame, truth: pd.Series,
                  cfg: QCConfig) -> pd.DataFrame:
    # behaviour on one row per (task, worker): an annotation answers all its fields at once;
    # straight-lining on every field's answer (with one field: the same rows)
    one_field = data["field"].nunique() <= 1
    per_annotation = data if one_field else data.drop_duplicates(["task", "worker"])
    beh = behaviour_stats(per_annotation[["task", "worker", "label", "lead_time_s"]]
                          if "lead_time_s" in data else per_annotation[["task", "worker", "label"]])
    if not one_field:
        beh["top_label_share"] = behaviour_stats(
            by_unit[["task", "worker", "label"]])["top_label_share"]
    acc = gold_accuracy(by_unit, truth, tolerance=cfg.gold_tolerance)
    return beh.join(acc, how="outer")


def _accuracy_rule(workers: pd.DataFrame, by_unit: pd.DataFrame, truth: pd.Series,
                   cfg: QCConfig, scores: tuple[pd.Series, pd.Series] | None = None
                   ) -> tuple[pd.Series, pd.Series]:
    """The end-of-campaign accuracy rule: who is under ``min_gold_accuracy``, and why.

    "interval" (the default): the accuracy estimated from all of a worker's work (gold
    judgments right or wrong, the rest by agreement with the others: see
    ``qc.gold.estimated_accuracy``) is confidently under the bar, its 95% Wilson interval's
    upper end below it; or both the gold accuracy (on ``min_gold_judgments``) and the
    Dawid-Skene model's estimate are under it. 3 right of 5 gold (60%) may well be an 80% expert, and is kept when
    the rest of their work agrees with the crowd; a random clicker lucky on gold is not.
    Only in campaigns with gold (the crowd alone is no yardstick). "point": the gold point
    estimate under the bar, with at least ``min_gold_judgments`` gold judgments.
    ``scores``: ``qc.gold.judgment_scores`` of ``by_unit`` (the "interval" rule's input).
    """
    if cfg.gold_rule == "interval" and not truth.empty:
        est = estimated_accuracy(by_unit[["task", "worker", "label"]], truth,
                                 tolerance=cfg.gold_tolerance, scores=scores)
        workers[est.columns] = est.reindex(workers.index)
        # confidently under; or under by two point estimates, gold's (on enough gold) and
        # the Dawid-Skene model's: the few judgments of a small campaign leave a random
        # clicker's interval reaching the bar, but not both of those
        # (the model's estimate must rest on more than the gold: on gold alone it is gold's)
        both = (workers["n_gold"] >= cfg.min_gold_judgments) \
            & (workers["est_n"] > workers["n_gold"]) \
            & (workers["accuracy"] < cfg.min_gold_accuracy) \
            & (workers["model_accuracy"] < cfg.min_gold_accuracy)
        low = (workers["est_n"] >= cfg.min_gold_judgments) \
            & ((workers["est_ci_high"] < cfg.min_gold_accuracy) | both)
        return low, _reasons(workers, low, lambda r: (
            f"estimated accuracy {r.est_accuracy:.1%} over {int(r.est_n)} judgments (gold "
            f"{int(r.n_correct)}/{int(r.n_gold)}, the rest by agreement with the others), 95% "
            f"interval up to {r.est_ci_high:.1%}; under {cfg.min_gold_accuracy:.0%}"))
    low = (workers["n_gold"] >= cfg.min_gold_judgments) \
        & (workers["accuracy"] < cfg.min_gold_accuracy)
    return low, _reasons(workers, low, lambda r: (
        f"gold accuracy {r.accuracy:.1%} ({int(r.n_correct)}/{int(r.n_gold)}), 95% interval "
        f"up to {r.accuracy_ci_high:.1%}; under {cfg.min_gold_accuracy:.0%}"))


def _drift_rule(workers: pd.DataFrame, by_unit: pd.DataFrame,
                scores: tuple[pd.Series, pd.Series] | None, cfg: QCConfig) -> pd.Series:
    """Worker -> why, for those whose later work fell under the bar (``qc.drift``); adds the
    drift figures to ``workers``. Off without scores (no gold, or the "point" rule), without
    submission times, or with ``drift_alpha`` 0."""
    out = pd.Series("", index=workers.index, dtype=object)
    if scores is None or cfg.drift_alpha <= 0 or "created_at" not in by_unit.columns:
        return out
    # (a rubric's fields share their annotation's time, each counted, as the accuracy rule does)
    found = drift(scores[0], by_unit["worker"], by_unit["created_at"], bar=cfg.min_gold_accuracy,
                  alpha=cfg.drift_alpha, window=cfg.drift_window,
                  min_judgments=cfg.min_gold_judgments)
    workers[DRIFT_COLUMNS] = found[DRIFT_COLUMNS].reindex(workers.index)
    return _reasons(workers, found["drifted"].reindex(workers.index, fill_value=False),
                    drift_reason)


def _too_fast(workers: pd.DataFrame, cfg: QCConfig) -> pd.Series:
    """Workers answering under ``min_speed_ratio`` of the crowd's median (0 disables)."""
    if cfg.min_speed_ratio <= 0:
        return pd.Series(False, index=workers.index)
    return workers["speed_ratio"] < cfg.min_speed_ratio


def _reasons(workers: pd.DataFrame, mask: pd.Series, explain) -> pd.Series:
    """``explain(row)`` for the workers under ``mask``, "" for the others (any may be none)."""
    return pd.Series([explain(r) if m else "" for r, m in
                      zip(workers.itertuples(), mask.reindex(workers.index, fill_value=False))],
                     index=workers.index, dtype=object)


def _speed_reasons(workers: pd.DataFrame, cfg: QCConfig) -> pd.Series:
    return _reasons(workers, _too_fast(workers, cfg),
                    lambda r: f"median {r.median_lead_time_s:.0f} s per judgment, "
                              f"{r.speed_ratio:.0%} of the crowd's")


#: straight-lining is flagged only when the others give the same answer this much less often
STRAIGHT_LINE_MARGIN = 0.2


def _straight_lining(by_unit: pd.DataFrame, workers: pd.DataFrame, cfg: QCConfig) -> pd.Series:
    """Workers who give one answer nearly always while the others do not: worker -> why."""
    out = pd.Series("", index=workers.index, dtype=object)
    if cfg.max_top_label_share is None or not len(by_unit):
        return out
    counts = by_unit.groupby(["worker", "label"]).size()
    totals = counts.groupby(level="label").sum()
    n_all = float(counts.sum())
    for w, per in counts.groupby(level="worker"):
        n = float(per.sum())
        label = per.droplevel("worker").idxmax()
        share = float(per.max()) / n
        if n < cfg.min_judgments_for_straight_lining or share < cfg.max_top_label_share \
                or n_all - n <= 0:
            continue
        others = float(totals[label] - per.max()) / (n_all - n)
        if others <= share - STRAIGHT_LINE_MARGIN:
            out[w] = (f"straight-lining: answered {label!r} to {share:.0%} of {int(n)} "
                      f"judgments (the others: {others:.0%})")
    return out


def _straight_check(reasons: pd.Series) -> CheckResult:
    flagged = list(map(str, reasons.index[reasons.ne("")]))
    return CheckResult(
        "straight_lining", "L1", passed=not flagged, severity="warning",
        summary=(f"{len(flagged)} annotator(s) gave one answer nearly always" if flagged
                 else "no annotator gave one answer nearly always"),
        metrics={"flagged": flagged})


def _join(a: pd.Series, b: pd.Series) -> pd.Series:
    return pd.Series([f"{x}; {y}" if x and y else (x or y) for x, y in zip(a, b.reindex(a.index))],
                     index=a.index, dtype=object)


def _speed_check(workers: pd.DataFrame, cfg: QCConfig) -> CheckResult:
    fast = list(workers.index[_too_fast(workers, cfg)])
    return CheckResult(
        "speed", "L1", passed=not fast, severity="warning",
        summary=(f"{len(fast)} annotator(s) answered far faster than the crowd" if fast
                 else "no annotator answered implausibly fast"),
        metrics={"flagged": list(map(str, fast)),
                 "crowd_median_lead_time_s": float(workers["median_lead_time_s"].median())})


def _per_row(table: pd.DataFrame | pd.Series, keys: pd.Series) -> pd.DataFrame | pd.Series:
    """``table``'s row for each of ``keys`` (NaN where it has none), in their order. Keys
    are factorized first: reindexing by a million Arrow strings turns each into a str object
    (~0.5 s), factorizing them does not (~0.03 s)."""
    codes, uniques = pd.factorize(keys)
    return table.reindex(uniques).take(codes)


def _mark(data: pd.DataFrame, workers: pd.DataFrame) -> pd.DataFrame:
    verdict = _per_row(workers[["excluded", "exclusion_reason"]], data["worker"])
    data["excluded"] = verdict["excluded"].to_numpy().astype(bool)
    data["exclusion_reason"] = verdict["exclusion_reason"].to_numpy()
    return data


def _finish_workers(workers: pd.DataFrame, reasons: pd.Series,
                    removed: dict[str, str] | None = None) -> pd.DataFrame:
    """Mark the excluded workers: those removed while the campaign ran (``removed``: worker ->
    why; that reason alone), then those the end-of-campaign rules exclude."""
    removed = removed or {}
    reasons = pd.Series([f"removed during the campaign: {removed[w]}" if w in removed else r
                         for w, r in reasons.items()], index=reasons.index, dtype=object)
    workers["excluded"] = reasons.ne("")
    workers["exclusion_reason"] = reasons.where(workers["excluded"], None)
    return workers


def run_layers(annotations: pd.DataFrame, gold: pd.DataFrame | pd.Series,
               cfg: QCConfig, removed: dict[str, str] | None = None,
               swap_probes: pd.DataFrame | None = None) -> QCResult:
    """QC for voted work. ``gold``: (task, [field,] label) answers of the gold tasks;
    ``removed``: workers removed while the campaign ran (worker -> why), excluded;
    ``swap_probes``: the answers to swap probes, in the item's terms (as ``annotations``),
    which measure each worker's self-consistency and count nowhere else."""
    if missing := [c for c in ("task", "worker", "label") if c not in annotations.columns]:
        raise ValueError(f"annotations are missing column(s) {missing} (see qc.contract)")
    data = _units(annotations)
    truth = _gold_units(gold)
    if "is_gold" not in data.columns:
        data["is_gold"] = data["unit"].isin(truth.index)
    by_unit = data.assign(task=data["unit"])
    check_annotations(by_unit)  # one judgment per worker per (task, field)
    with checked_once():  # the layers are handed frames made from these judgments
        return _voted_layers(data, by_unit, truth, cfg, removed, swap_probes)


def _voted_layers(data: pd.DataFrame, by_unit: pd.DataFrame, truth: pd.Series, cfg: QCConfig,
                  removed: dict[str, str] | None, swap_probes: pd.DataFrame | None) -> QCResult:
    """``run_layers`` once its judgments are checked: ``data`` with ``unit`` and
    ``is_gold``, ``by_unit`` the same with the unit as the task, ``truth`` by unit."""
    checks: list[CheckResult] = []

    workers = _worker_table(data, by_unit, truth, cfg)
    # one Dawid-Skene fit on every judgment, the gold clamped: the accuracy and drift rules'
    # model, and L5's too when it is Dawid-Skene and nobody ends up excluded (the same fit
    # of the same judgments)
    everyone = DawidSkene().fit(by_unit[["task", "worker", "label"]], gold=truth) \
        if cfg.gold_rule == "interval" and not truth.empty and len(by_unit) else None
    scores = judgment_scores(by_unit[["task", "worker", "label"]], truth, cfg.gold_tolerance,
                             model=everyone) if everyone is not None else None
    low, gold_reasons = _accuracy_rule(workers, by_unit, truth, cfg, scores)
    drifted = _drift_rule(workers, by_unit, scores, cfg)
    straight = _straight_lining(by_unit, workers, cfg)
    sided = position_bias(by_unit, cfg.sides) if cfg.sides else None
    positional = pd.Series("", index=workers.index, dtype=object)
    if sided is not None:
        workers = workers.join(sided[["left_share", "left_p_value"]])
        positional = sided["reason"].reindex(workers.index, fill_value="")
    swapped = swap_consistency(data, swap_probes) if swap_probes is not None else None
    if swapped is not None:
        workers = workers.join(swapped)
    # copying on nominal answers only: on rating scales honest experts' near-misses
    # coincide too often for shared "mistakes" to mean anything
    copies = copy_pairs(by_unit.assign(item=data["task"].array)) \
        if cfg.level == "nominal" else pd.DataFrame(columns=COPY_COLUMNS)
    copying = pd.Series(copy_reasons(copies), dtype=object).reindex(workers.index, fill_value="")
    reasons = gold_reasons
    for more in (drifted, _speed_reasons(workers, cfg), straight, positional, copying):
        reasons = _join(reasons, more)
    workers = _finish_workers(workers, reasons, removed)
    checks.append(_speed_check(workers, cfg))
    checks.append(_straight_check(straight))
    worse = [str(w) for w in drifted.index[drifted.ne("")]]
    checks.append(CheckResult(
        "drift", "L2", passed=not worse, severity="warning",
        summary=(f"{len(worse)} annotator(s) whose later work fell under "
                 f"{cfg.min_gold_accuracy:.0%} (trend test and 95% Wilson interval)" if worse
                 else "no annotator's later work fell under the bar"),
        metrics={"flagged": worse}))
    if sided is not None:
        biased = [str(w) for w in sided.index[sided["reason"].ne("")]]
        checks.append(CheckResult(
            "position_bias", "L1", passed=not biased, severity="warning",
            summary=(f"{len(biased)} annotator(s) picked one side far more often than the "
                     f"others (binomial test)" if biased else
                     "no annotator picked one side beyond chance"),
            metrics={"flagged": biased,
                     "left_share": {str(w): float(v) for w, v in sided["left_share"].items()}}))
    if swapped is not None:
        checks.append(_swap_check(swapped))
    checks.append(CheckResult(
        "copying", "L1", passed=not len(copies), severity="warning",
        summary=(f"{len(copies)} pair(s) of annotators share mistakes far beyond chance, one "
                 f"submitting after the other: the copier is excluded" if len(copies)
                 else "no pair of annotators shares mistakes beyond chance"),
        metrics={"pairs": [{"copier": str(r.copier), "source": str(r.source),
                            "shared": int(r.shared), "shared_errors": int(r.shared_errors),
                            "expected_errors": float(r.expected_errors),
                            "p_value": float(r.p_value)} for r in copies.itertuples()]}))
    judged_on = workers["est_n"] if "est_n" in workers else workers["n_gold"]
    thin = workers.index[judged_on < cfg.min_gold_judgments]
    checks.append(CheckResult(
        "gold_accuracy", "L2", passed=not low.any(), severity="warning",
        summary=("no gold items in this campaign" if truth.empty else
                 f"{int(low.sum())} annotator(s) under {cfg.min_gold_accuracy:.0%} "
                 + ("in accuracy from gold and agreement (95% Wilson interval)"
                    if cfg.gold_rule == "interval" else "on gold")
                 + (f"; {len(thin)} with too few judgments to judge" if len(thin) else "")),
        metrics={"below_threshold": list(map(str, workers.index[low])),
                 "too_few_gold": list(map(str, thin)),
                 "median_accuracy": None if truth.empty else float(workers["accuracy"].median())}))

    data = _mark(data, workers)
    kept = data[~data["excluded"]]
    kept_units = kept.assign(task=kept["unit"])[["task", "worker", "label"]]
    alpha = krippendorff_alpha(kept_units, level=cfg.level) if len(kept) else float("nan")
    by_field = {f: krippendorff_alpha(g.assign(task=g["unit"])[["task", "worker", "label"]],
                                      level=cfg.level)
                for f, g in kept.groupby("field")} if kept["field"].nunique() > 1 else {}
    checks.append(CheckResult(
        "agreement", "L3", passed=not np.isnan(alpha), severity="warning",
        summary=f"Krippendorff's alpha ({cfg.level}) = {alpha:.3f} over kept judgments"
                + ("; by field: " + ", ".join(f"{k} {v:.2f}" for k, v in by_field.items())
                   if by_field else ""),
        metrics={"alpha": None if np.isnan(alpha) else float(alpha),
                 "by_field": {k: None if np.isnan(v) else float(v) for k, v in by_field.items()}}))

    work = kept[~kept["is_gold"]]
    all_tasks = data.loc[~data["is_gold"], "task"].unique()
    if len(work):
        # fitted on the gold tasks too, their known answers held (the estimator learns each
        # annotator's reliability from them); only the other tasks' labels are delivered
        chosen = aggregator(cfg.aggregation, cfg.level)
        reuse = everyone is not None and type(chosen) is DawidSkene \
            and chosen == DawidSkene() and len(kept) == len(data)
        est = everyone if reuse else chosen.fit(kept_units, gold=truth)
        n = work.groupby("unit").size()
        # the work units' results (one lookup: isin, or a reindex, over 10^5 Arrow strings
        # turns each into a str object)
        at = n.index.get_indexer(est.labels_.index)
        mine = at >= 0
        labels = est.labels_[mine]
        task, field = _split_units(labels.index)
        outcome = pd.DataFrame({"task": task, "field": field,
                                "label": labels.to_numpy(),
                                "confidence": est.confidence_.to_numpy()[mine],
                                "n_judgments": n.to_numpy()[at[mine]]})
        # a task is resolved only when every one of its fields has a label
        n_fields = data["field"].nunique()
        complete = outcome.groupby("task")["field"].transform("size") == n_fields
        outcome = outcome[complete].reset_index(drop=True)
    else:
        outcome = pd.DataFrame(columns=["task", "field", "label", "confidence", "n_judgments"])
    unresolved = _unresolved(all_tasks, outcome)
    checks.append(_coverage(outcome, all_tasks, unresolved))
    return QCResult(workers=workers, judgments=data.drop(columns=["unit"]), outcome=outcome,
                    confusion=_confusion(data, truth, outcome),
                    unresolved=unresolved, alpha=alpha, level=cfg.level, checks=checks,
                    alpha_by_field=by_field, agreement=agreement(kept, cfg.level) if len(kept) else None)


def _split_units(units: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's task and field (split at the first ``SEP``; by pyarrow: pandas' split with
    ``n=1`` runs in Python, a quarter of a second on 200,000 units)."""
    parts = pc.split_pattern(pa.array(units, type=pa.string()), SEP, max_splits=1)
    return tuple(pc.list_element(parts, i).to_numpy(zero_copy_only=False) for i in (0, 1))


def _confusion(data: pd.DataFrame, truth: pd.Series, outcome: pd.DataFrame) -> pd.DataFrame:
    """Each worker's answers against the reference of their unit: the gold answer where it is
    known, else the delivered label (units with neither are left out)."""
    delivered = pd.Series(outcome["label"].to_numpy(),
                          index=outcome["task"].astype(str) + SEP + outcome["field"].astype(str))
    ref = pd.concat([truth.astype(str), delivered.astype(str)])
    ref = ref[~ref.index.duplicated()]
    rows = data[["worker", "label"]].assign(reference=_per_row(ref, data["unit"]).array)
    rows = rows[rows["reference"].notna()]
    if not len(rows):
        return pd.DataFrame(columns=["worker", "reference", "label", "n"])
    # rows per (worker, reference, label), in that sorted order (a groupby on codes: on
    # three Arrow string columns it hashes them again)
    cols = ["worker", "reference", "label"]
    codes, uniques = zip(*(pd.factorize(rows[c], sort=True) for c in cols))
    key = np.ravel_multi_index(codes, [len(u) for u in uniques])
    found, n = np.unique(key, return_counts=True)
    at = np.unravel_index(found, [len(u) for u in uniques])
    return pd.DataFrame({c: u.take(i) for c, u, i in zip(cols, uniques, at)} | {"n": n})


def _unresolved(all_tasks, outcome: pd.DataFrame) -> list:
    """The tasks of ``all_tasks`` (distinct) with no result in ``outcome``, sorted."""
    done = pd.Index(outcome["task"].unique())
    return sorted(all_tasks[done.get_indexer(all_tasks) < 0])


def _coverage(outcome: pd.DataFrame, all_tasks, missing: list) -> CheckResult:
    """``missing``: ``_unresolved(all_tasks, outcome)``."""
    done = outcome["task"].nunique()
    coverage = done / len(all_tasks) if len(all_tasks) else 0.0
    return CheckResult(
        "coverage", "L5", passed=coverage >= MIN_COVERAGE, severity="error",
        summary=f"{done} of {len(all_tasks)} items have a result after exclusions "
                f"({coverage:.0%}; at least {MIN_COVERAGE:.0%} needed)",
        metrics={"coverage": coverage, "unresolved": missing[:50]})


def run_text_layers(annotations: pd.DataFrame, prompts: pd.Series, cfg: QCConfig,
                    check=None, removed: dict[str, str] | None = None) -> QCResult:
    """QC for free-text work: ``annotations`` has task, worker, label (the text) and
    lead_time_s; ``prompts`` maps task -> prompt; ``check(text)`` adds a type's own test."""
    data = check_annotations(annotations).copy()
    if "field" not in data.columns:
        data["field"] = ""
    data["is_gold"] = False
    data["flag"] = text_flags(data, prompts, min_chars=cfg.min_chars, check=check)
    workers = behaviour_stats(data[["task", "worker", "label", "lead_time_s"]])
    flagged = data.assign(bad=data["flag"].notna()).groupby("worker")["bad"].agg(["sum", "size"])
    workers["n_flagged"] = flagged["sum"].astype(int)
    workers["flagged_share"] = flagged["sum"] / flagged["size"]
    many = (workers["flagged_share"] >= cfg.max_flagged_share) & (flagged["size"] >= 2)
    reasons = _reasons(workers, many,
                       lambda r: f"{int(r.n_flagged)} of {int(r.n_judgments)} texts failed "
                                 f"automatic checks")
    workers = _finish_workers(workers, _join(reasons, _speed_reasons(workers, cfg)), removed)
    for col in ("n_gold", "n_correct", "accuracy", "accuracy_ci_low", "accuracy_ci_high"):
        workers[col] = np.nan
    data = _mark(data, workers)
    counts = data["flag"].dropna().str.split(":").str[0].value_counts().to_dict()
    checks = [_speed_check(workers, cfg), CheckResult(
        "text_checks", "L1", passed=not counts, severity="warning",
        summary=(f"{int(data['flag'].notna().sum())} of {len(data)} texts rejected: "
                 + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))) if counts
        else "every text passed the automatic checks",
        metrics={"rejected": int(data["flag"].notna().sum()), "by_reason": counts})]
    accepted = data[~data["excluded"] & data["flag"].isna()]
    outcome = pd.DataFrame({"task": accepted["task"].to_numpy(),
                            "worker": accepted["worker"].to_numpy(),
                            "value": accepted["label"].to_numpy()})
    all_tasks = data["task"].unique()
    unresolved = _unresolved(all_tasks, outcome)
    checks.append(_coverage(outcome, all_tasks, unresolved))
    return QCResult(workers=workers, judgments=data, outcome=outcome, unresolved=unresolved,
                    alpha=float("nan"), level="n/a (free text)", checks=checks)


def expert_quality(result: QCResult) -> pd.DataFrame:
    """What a campaign measured of each annotator, as counts for the talent pool's history
    (``connectors.pool_registry``): ``judgments``; ``gold_judged``/``gold_right``; for voted
    work ``agreement_judged``/``agreement_sum`` (their judgments of work items with a result,
    and how many agree with it); for free text ``reviews``/``reviews_accepted`` (texts, and
    texts that passed the automatic checks; plus each of their texts an expert reviewer
    judged, and those accepted as they were). One row per worker (``expert_id``)."""
    w = result.workers
    out = pd.DataFrame({"expert_id": w.index.astype(str),
                        "judgments": w.get("n_judgments", pd.Series(0, index=w.index))
                        .fillna(0).astype(int).to_numpy()})
    out["gold_judged"] = w.get("n_gold", pd.Series(0, index=w.index)).fillna(0).astype(int).to_numpy()
    out["gold_right"] = w.get("n_correct", pd.Series(0, index=w.index)).fillna(0).astype(int).to_numpy()
    j = result.judgments
    if "flag" in j.columns:  # free text: each text is checked, accepted or not
        texts = j.groupby("worker")["flag"].agg(reviews="size", reviews_accepted=lambda f: f.isna().sum())
        out = out.join(texts, on="expert_id")
    elif len(result.outcome) and "label" in result.outcome.columns:
        work = j[~j["is_gold"].astype(bool)] if "is_gold" in j.columns else j
        agreed = work.merge(result.outcome[["task", "field", "label"]], on=["task", "field"],
                            suffixes=("", "_result"))
        agreed["agrees"] = agreed["label"].astype(str) == agreed["label_result"].astype(str)
        by = agreed.groupby("worker")["agrees"].agg(agreement_judged="size", agreement_sum="sum")
        out = out.join(by, on="expert_id")
    for col in ("agreement_judged", "agreement_sum", "reviews", "reviews_accepted"):
        out[col] = out[col].fillna(0) if col in out.columns else 0
    if result.review is not None and "flag" in j.columns:  # L4: each reviewed text, its writer's
        v = result.review.verdicts
        by = v.groupby("writer")["verdict"].agg(n="size", ok=lambda x: (x == "accept").sum())
        out["reviews"] += out["expert_id"].map(by["n"]).fillna(0).to_numpy()
        out["reviews_accepted"] += out["expert_id"].map(by["ok"]).fillna(0).to_numpy()
    return out.astype({"agreement_judged": int, "agreement_sum": float, "reviews": int,
                       "reviews_accepted": int})
