"""Planted bad actors, measured offline: which QC rules miss whom.

For each seed, one pairwise campaign (300 items x 3 judgments, 10% gold, 20 experts, four
planted bad actors and a copier in odd seeds; ``simulation.campaigns``) goes through
``qc.pipeline.run_layers`` and one free-text campaign (a copy-paster among ten writers)
through ``run_text_layers``, with the default QCConfig (the pairwise sides set). Detected:
the workers QC excludes. Over all seeds: precision and recall (bad actors are the
positives), recall per kind, the honest experts excluded and why, the delivered accuracy
beside crowd-kit's Dawid-Skene on the same non-gold judgments, and the calibration (ECE)
of the delivered confidence.

    .venv/bin/python scripts/bad_actors.py [--seeds 20]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qc.aggregation import calibration_error  # noqa: E402
from qc.copying import CopyRules, copy_pairs  # noqa: E402
from qc.pipeline import QCConfig, QCResult, run_layers, run_text_layers  # noqa: E402
from simulation.campaigns import SIDES, pairwise_campaign, text_campaign  # noqa: E402

#: the columns of QC's worker table quoted per bad actor (those present)
DIAG = ["n_judgments", "median_lead_time_s", "speed_ratio", "n_gold", "n_correct", "accuracy",
        "accuracy_ci_high", "est_n", "est_accuracy", "est_ci_high", "left_share",
        "left_p_value", "n_flagged", "flagged_share"]
#: every pair's copy statistics, however weak (to quote a copier the rule missed); pairs
#: sharing under 10 items left out, as their timing check costs time and says nothing
ALL_PAIRS = CopyRules(min_shared=10, min_shared_errors=0, alpha=1.0, min_follow_share=0.0,
                      follow_alpha=2.0, max_lag_s=float("inf"))


def _crowdkit_ds(judgments: pd.DataFrame) -> pd.Series:
    from crowdkit.aggregation import DawidSkene
    return DawidSkene(n_iter=100).fit_predict(judgments[["task", "worker", "label"]])


def _accuracy(labels: pd.Series, truth: pd.Series) -> tuple[int, int]:
    """(right, delivered) of ``labels`` (task -> label) against ``truth``."""
    return int((labels == truth.reindex(labels.index)).sum()), int(len(labels))


def _true_accuracy(data: pd.DataFrame, truth: pd.Series) -> pd.Series:
    right = data["label"].to_numpy() == truth.reindex(data["task"]).to_numpy()
    return pd.Series(right, index=data.index).groupby(data["worker"]).mean()


def _copy_stats(data: pd.DataFrame, copier: str, source: str) -> dict:
    """The copy rule's statistics for one pair, computed without its thresholds."""
    pairs = copy_pairs(data.assign(item=data["task"]), ALL_PAIRS)
    row = pairs[pairs["copier"].isin([copier, source]) & pairs["source"].isin([copier, source])]
    if not len(row):  # under ALL_PAIRS.min_shared items in common
        return {"shared": len(set(data.loc[data["worker"] == copier, "task"])
                              & set(data.loc[data["worker"] == source, "task"]))}
    r = row.iloc[0]
    return {"shared": int(r["shared"]), "same": int(r["same"]),
            "shared_errors": int(r["shared_errors"]), "expected_errors": float(r["expected_errors"]),
            "p_value": float(r["p_value"]), "follow_share": float(r["follow_share"])}


def _shared_true_errors(data: pd.DataFrame, truth: pd.Series, a: str, b: str) -> int:
    """Items both judged, the same answer, and it is wrong (against the truth)."""
    x = data[data["worker"] == a].set_index("task")["label"]
    y = data[data["worker"] == b].set_index("task")["label"]
    both = x.index.intersection(y.index)
    same = x[both] == y[both]
    return int((same & (x[both] != truth.reindex(both))).sum())


def _worker_rows(seed: int, campaign: str, result: QCResult, kinds: pd.Series,
                 true_acc: pd.Series, planned: pd.Series) -> list[dict]:
    """One row per worker of a campaign: kind, QC's verdict and figures, true accuracy."""
    w = result.workers
    rows = []
    for x in w.index:
        row = {"seed": seed, "campaign": campaign, "worker": x, "kind": kinds.get(x, "honest"),
               "excluded": bool(w.at[x, "excluded"]), "reason": w.at[x, "exclusion_reason"] or "",
               "planned_accuracy": float(planned.get(x, np.nan)),
               "true_accuracy": float(true_acc.get(x, np.nan))}
        row.update({c: float(w.at[x, c]) for c in DIAG if c in w.columns})
        rows.append(row)
    return rows


def measure(seeds: int | list[int] = 20, cfg: QCConfig | None = None) -> dict:
    """Run the campaigns of ``seeds`` (a count: seeds 0..n-1) through QC (``cfg``: the
    defaults with the pairwise sides) and return the figures: detection counts and rates
    (pairwise and text together, and pairwise alone), recall per kind, ``workers`` (every
    worker of every campaign: kind, excluded, why, QC's figures, true accuracy), the
    bad actors and the honest experts excluded, delivered accuracy beside crowd-kit's
    Dawid-Skene on the same non-gold judgments, the ECE of the delivered confidence, and
    the seconds spent per stage."""
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    cfg = cfg or QCConfig(sides=SIDES, level="nominal")
    rows: list[dict] = []
    acc = {"qc": [0, 0], "ds_all": [0, 0], "ds_kept": [0, 0]}
    per_seed: list[dict] = []
    n_work_items = 0
    conf, right = [], []
    secs = dict.fromkeys(["generate", "run_layers", "run_text_layers", "crowdkit_ds",
                          "diagnostics"], 0.0)
    for seed in seeds:
        t0 = time.perf_counter()
        camp = pairwise_campaign(seed)
        text = text_campaign(seed)
        t1 = time.perf_counter()
        res = run_layers(camp.judgments, camp.gold, cfg)
        t2 = time.perf_counter()
        tres = run_text_layers(text.texts, text.prompts, cfg)
        t3 = time.perf_counter()
        data, truth = camp.judgments, camp.truth
        work = data[~data["is_gold"]]
        excluded = set(res.workers.index[res.workers["excluded"]])
        ds_all = _crowdkit_ds(work)
        ds_kept = _crowdkit_ds(work[~work["worker"].isin(excluded)])
        t4 = time.perf_counter()

        seed_rows = _worker_rows(seed, "pairwise", res, camp.experts["kind"],
                                 _true_accuracy(data, truth), camp.experts["accuracy"]) \
            + _worker_rows(seed, "text", tres, text.experts["kind"], pd.Series(dtype=float),
                           pd.Series(dtype=float))
        # what the rules saw of the bad actors they missed or caught: a copier's pair
        # statistics (flagged or not), a left-biased expert's bar
        for row in seed_rows:
            if row["kind"] == "copier":
                src = str(camp.experts.at[row["worker"], "source"])
                row["source"] = src
                row.update({f"copy_{k}": v for k, v in _copy_stats(data, row["worker"], src).items()})
                row["copy_truth_shared_errors"] = _shared_true_errors(data, truth, row["worker"], src)
            elif row["kind"] == "careless":  # the drift: true accuracy by thirds of their work
                d = data[data["worker"] == row["worker"]].sort_values("created_at")
                ok = d["label"].to_numpy() == truth.reindex(d["task"]).to_numpy()
                for i, part in enumerate(np.array_split(ok, 3)):
                    row[f"true_accuracy_third_{i + 1}"] = float(part.mean())
            elif row["kind"] == "left_biased":
                others = data[data["worker"] != row["worker"]]
                row["others_left_share"] = float(((others["label"] == "a") ^ others["swapped"]).mean())
                row["position_bar"] = 0.01 / len(res.workers)
        rows += seed_rows
        t5 = time.perf_counter()

        out = res.outcome.set_index("task")
        n_work_items += int((~truth.index.isin(camp.gold.index)).sum())
        seed_acc = {}
        for key, labels in (("qc", out["label"]), ("ds_all", ds_all), ("ds_kept", ds_kept)):
            r, n = _accuracy(labels, truth)
            acc[key][0] += r
            acc[key][1] += n
            seed_acc[key] = r / n if n else float("nan")
        per_seed.append({"seed": seed, **seed_acc})
        conf.append(out["confidence"].to_numpy(dtype=float))
        right.append((out["label"] == truth.reindex(out.index)).to_numpy())
        for k, a, b in (("generate", t0, t1), ("run_layers", t1, t2), ("run_text_layers", t2, t3),
                        ("crowdkit_ds", t3, t4), ("diagnostics", t4, t5)):
            secs[k] += b - a

    workers = pd.DataFrame(rows)
    bad = workers["kind"].ne("honest")

    def rates(w: pd.DataFrame, b: pd.Series) -> dict:
        tp, fp = int((w["excluded"] & b).sum()), int((w["excluded"] & ~b).sum())
        fn = int((~w["excluded"] & b).sum())
        return {"tp": tp, "fp": fp, "fn": fn,
                "precision": tp / (tp + fp) if tp + fp else float("nan"),
                "recall": tp / (tp + fn) if tp + fn else float("nan")}

    voted = workers["campaign"].eq("pairwise")
    by_kind = workers[bad].groupby("kind")["excluded"].agg(["sum", "size"])
    cc = np.concatenate(conf)
    return {
        "seeds": seeds,
        "gold_rule": cfg.gold_rule,
        **rates(workers, bad),
        "voted": rates(workers[voted], bad[voted]),
        "recall_by_kind": {k: {"found": int(r["sum"]), "planted": int(r["size"]),
                               "recall": int(r["sum"]) / int(r["size"])}
                           for k, r in by_kind.iterrows()},
        "workers": workers,
        "actors": workers[bad].reset_index(drop=True),
        "false_positives": workers[~bad & workers["excluded"]].reset_index(drop=True),
        "work_items": n_work_items,
        "accuracy": {k: {"right": r, "delivered": n, "accuracy": r / n if n else float("nan"),
                         "coverage": n / n_work_items} for k, (r, n) in acc.items()},
        "accuracy_by_seed": pd.DataFrame(per_seed),
        "ece": calibration_error(cc, np.concatenate(right)),
        "mean_confidence": float(cc.mean()),
        "seconds": secs,
    }


def _print(m: dict, total_s: float) -> None:
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 140)
    print(f"Planted bad actors over {len(m['seeds'])} seeds (QCConfig defaults, sides a/b; "
          f"gold_rule {m['gold_rule']!r})\n")
    print(f"detection (pairwise + text): precision {m['precision']:.3f}  recall {m['recall']:.3f}"
          f"   (TP {m['tp']}, FP {m['fp']}, FN {m['fn']})")
    v = m["voted"]
    print(f"detection (pairwise only):   precision {v['precision']:.3f}  recall {v['recall']:.3f}"
          f"   (TP {v['tp']}, FP {v['fp']}, FN {v['fn']})")
    print(f"target: both >= 0.95\n\nrecall per kind:")
    for k, r in m["recall_by_kind"].items():
        print(f"  {k:<14} {r['found']:>2}/{r['planted']:<2}  {r['recall']:.2f}")
    print("\nfalse positives (honest experts excluded):")
    fp = m["false_positives"]
    print("  none" if fp.empty else fp[["seed", "campaign", "worker", "planned_accuracy",
                                        "true_accuracy", "n_judgments", "reason"]]
          .to_string(index=False, float_format="%.3f"))
    a = m["actors"]
    missed = a[~a["excluded"]]
    print("\nmissed bad actors:")
    if missed.empty:
        print("  none")
    else:
        cols = [c for c in ["seed", "worker", "kind", "n_judgments", "speed_ratio", "n_gold",
                            "n_correct", "accuracy", "accuracy_ci_high", "est_n", "est_accuracy",
                            "est_ci_high", "left_share", "left_p_value", "true_accuracy"]
                if c in missed.columns]
        print(missed[cols].to_string(index=False, float_format="%.3g"))
        cop = missed[missed["kind"] == "copier"]
        if len(cop):
            ccols = [c for c in missed.columns if c.startswith("copy_")] + ["source"]
            print("\nmissed copiers, the copy rule's statistics for (copier, source):")
            print(cop[["seed", "worker"] + ccols].to_string(index=False, float_format="%.3g"))
    car = a[a["kind"] == "careless"]
    if len(car) and "true_accuracy_third_1" in car:
        print("\ncareless experts' true accuracy by thirds of their work (mean): " + ", ".join(
            f"{car[f'true_accuracy_third_{i}'].mean():.3f}" for i in (1, 2, 3)))
    print("\nper kind (all planted), median of QC's figures:")
    cols = [c for c in ["n_judgments", "speed_ratio", "accuracy", "accuracy_ci_high",
                        "est_accuracy", "est_ci_high", "left_share", "left_p_value",
                        "true_accuracy"] if c in a.columns]
    print(a[a["campaign"] == "pairwise"].groupby("kind")[cols].median()
          .to_string(float_format="%.3g"))
    print(f"\ndelivered accuracy on non-gold items ({m['work_items']} items):")
    names = {"qc": "annoflow QC outcome", "ds_all": "crowd-kit DS, all workers",
             "ds_kept": "crowd-kit DS, non-excluded workers"}
    for k, r in m["accuracy"].items():
        print(f"  {names[k]:<36} {r['accuracy']:.4f}  ({r['right']}/{r['delivered']}, "
              f"coverage {r['coverage']:.1%})")
    by = m["accuracy_by_seed"]
    print(f"  seeds where the QC outcome is under crowd-kit DS (all workers): "
          f"{int((by['qc'] < by['ds_all']).sum())} of {len(by)}")
    w = m["workers"]
    honest = w[(w["kind"] == "honest") & (w["campaign"] == "pairwise")]
    if "est_accuracy" in honest:
        gap = honest["est_accuracy"] - honest["true_accuracy"]
        print(f"\nhonest experts: QC's estimated accuracy minus their true accuracy, median "
              f"{gap.median():+.3f} (10th-90th percentile {gap.quantile(0.1):+.3f} to "
              f"{gap.quantile(0.9):+.3f})")
    print(f"\nECE of the outcome's confidence (10 bins): {m['ece']:.4f} "
          f"(mean confidence {m['mean_confidence']:.3f})")
    s = m["seconds"]
    print(f"\ntime: {total_s:.1f} s in all; " + ", ".join(f"{k} {v:.1f} s" for k, v in s.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--gold-rule", choices=["interval", "point"], default=None,
                    help="QCConfig.gold_rule (default: QCConfig's own default)")
    args = ap.parse_args()
    cfg = QCConfig(sides=SIDES, level="nominal")
    if args.gold_rule:
        cfg = QCConfig(sides=SIDES, level="nominal", gold_rule=args.gold_rule)
    t0 = time.perf_counter()
    m = measure(args.seeds, cfg)
    _print(m, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
