"""Ordinal aggregation measured offline: simulated Likert campaigns with known truth.

For each seed, one campaign of ``simulation.campaigns.ordinal_campaign`` (300 items x 3
judgments on a 5-point scale, 10% gold, 20 experts: 18 honest of accuracy 0.6-0.95 whose
mistakes are mostly one step off, and 2 random clickers). Every method aggregates all the
judgments; scored on the non-gold items: exact accuracy, mean absolute error (MAE, in
scale points) and the expected calibration error (ECE) of the confidence (the posterior
of the delivered label). annoflow's estimators get the gold answers (held during EM, as the
campaign pipeline does), crowd-kit's cannot take them (its Wawa and ZeroBasedSkill fail
under the installed scikit-learn: left out). "pipeline" rows: the whole of
``qc.pipeline.run_layers`` (exclusions first) with each aggregation option, on the
delivered items (an unresolved item counts as wrong).

    .venv/bin/python scripts/ordinal.py [--seeds 20] [--first 0]
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qc.aggregation import (DawidSkene, MajorityVote, OrdinalDawidSkene,  # noqa: E402
                            calibration_error)
from qc.pipeline import QCConfig, run_layers  # noqa: E402
from simulation.campaigns import ordinal_campaign  # noqa: E402

Fit = Callable[[pd.DataFrame, pd.Series], tuple[pd.Series, pd.Series]]


def _ours(make) -> Fit:
    def fit(data: pd.DataFrame, gold: pd.Series) -> tuple[pd.Series, pd.Series]:
        est = make().fit(data, gold=gold)
        return est.labels_, est.confidence_
    return fit


def _crowdkit(name: str) -> Fit:
    def fit(data: pd.DataFrame, gold: pd.Series) -> tuple[pd.Series, pd.Series]:
        import crowdkit.aggregation as ck
        make = {"DawidSkene": lambda: ck.DawidSkene(n_iter=100),
                "OneCoinDawidSkene": lambda: ck.OneCoinDawidSkene(n_iter=100)}.get(
            name, getattr(ck, name))
        p = make().fit_predict_proba(data)
        return p.idxmax(axis=1), p.max(axis=1)
    return fit


METHODS: dict[str, Fit] = {
    "annoflow OrdinalDawidSkene (mode)": _ours(OrdinalDawidSkene),
    "annoflow OrdinalDawidSkene (median)": _ours(lambda: OrdinalDawidSkene(decision="median")),
    "annoflow DawidSkene": _ours(DawidSkene),
    "annoflow MajorityVote": _ours(MajorityVote),
    **{f"crowd-kit {n}": _crowdkit(n) for n in
       ("DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE", "MajorityVote")},
}
PIPELINE = {"pipeline dawid_skene": "dawid_skene", "pipeline weighted": "weighted"}


def _score(labels: pd.Series, conf: pd.Series, truth: pd.Series) -> dict:
    """On ``truth``'s items: right (exact), absolute errors, and (confidence, right) pairs;
    an item without a label counts as wrong, its error the scale's span, confidence 0."""
    lab = labels.reindex(truth.index)
    right = (lab.astype(object) == truth.astype(object)).to_numpy()
    err = (pd.to_numeric(lab, errors="coerce") - truth.astype(float)).abs().fillna(4.0)
    return {"right": right, "abs": err.to_numpy(),
            "conf": conf.reindex(truth.index).where(lab.notna(), 0.0).to_numpy(dtype=float)}


def measure(seeds: int = 20, first: int = 0, methods: dict[str, Fit] | None = None,
            pipeline: bool = True) -> pd.DataFrame:
    """Per method over the seeds: accuracy, MAE, ECE (all items pooled), the worst seed's
    accuracy gap to annoflow's Dawid-Skene, and seconds."""
    methods = METHODS if methods is None else methods
    pooled: dict[str, list[dict]] = {}
    secs: dict[str, float] = {}
    for seed in range(first, first + seeds):
        c = ordinal_campaign(seed)
        data = c.judgments[["task", "worker", "label"]]
        work = c.truth[~c.truth.index.isin(c.gold.index)]
        for name, fit in methods.items():
            t0 = time.perf_counter()
            labels, conf = fit(data, c.gold)
            secs[name] = secs.get(name, 0.0) + time.perf_counter() - t0
            pooled.setdefault(name, []).append(_score(labels, conf, work))
        for name, option in (PIPELINE.items() if pipeline else ()):
            t0 = time.perf_counter()
            r = run_layers(c.judgments, c.gold, QCConfig(level="ordinal", gold_tolerance=1,
                                                         aggregation=option))
            secs[name] = secs.get(name, 0.0) + time.perf_counter() - t0
            out = r.outcome.set_index("task")
            pooled.setdefault(name, []).append(_score(out["label"], out["confidence"], work))
    rows = {}
    base = pooled.get("annoflow DawidSkene")
    for name, per_seed in pooled.items():
        right = np.concatenate([s["right"] for s in per_seed])
        conf = np.concatenate([s["conf"] for s in per_seed])
        rows[name] = {
            "accuracy": right.mean(), "mae": np.concatenate([s["abs"] for s in per_seed]).mean(),
            "ece": np.nan if np.isnan(conf).any() else calibration_error(conf, right),
            "mean_confidence": conf.mean(),
            "worst_seed_gap_to_ds": None if base is None else min(
                s["right"].mean() - b["right"].mean() for s, b in zip(per_seed, base)),
            "seeds_at_least_ds": None if base is None else sum(
                s["right"].mean() >= b["right"].mean() for s, b in zip(per_seed, base)),
            "seconds": secs[name]}
    return pd.DataFrame(rows).T


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first", type=int, default=0)
    args = ap.parse_args()
    pd.set_option("display.width", 200)
    print(measure(args.seeds, args.first).to_string(float_format=lambda x: f"{x:.4f}"))


if __name__ == "__main__":
    main()
