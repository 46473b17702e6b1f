"""Live QC: which experts to remove while a campaign runs, on the judgments synced so far
(pure; the tick acts on the answer).

Removal while work goes on costs an expert their place, so it asks for confident evidence,
not a point estimate:

* **gold**: with at least ``min_gold_judgments`` gold judgments, the upper bound of the
  95 % Wilson interval on the expert's gold accuracy is under ``min_gold_accuracy`` (a
  50 % clicker's upper bound drops under 0.70 at about 22 gold judgments; an honest expert
  at 80 % essentially never gets there);
* **speed**: with at least ``min_judgments_for_speed`` judgments, the expert's median time
  per judgment (measured by the server, from serving to submission) is under
  ``min_speed_ratio`` of the median of the other experts' medians (at least two others
  with three judgments each, so one fast expert cannot set the bar alone).

The end-of-campaign exclusion rules (``qc.pipeline``) still apply to whoever remains.

``reviewed`` says whose work so far live QC has vouched for: Label Studio serves an expert
at most ``qc.review_window`` submissions past that (the extension's scheduler), so a fast
clicker waits for the next tick instead of outrunning it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from qc.gold import gold_accuracy
from qc.pipeline import SEP

#: judgments another expert needs before their pace counts in the crowd's
CROWD_MIN_JUDGMENTS = 3


@dataclass(frozen=True)
class LiveRules:
    min_gold_accuracy: float
    min_speed_ratio: float
    min_judgments_for_speed: int
    gold_tolerance: float = 0
    #: gold judgments an expert needs before gold can remove them (the interval is checked
    #: at every tick: a floor keeps repeated looks from catching an unlucky start)
    min_gold_judgments: int = 5
    #: the plan's time per judgment: the pace an expert with nobody to compare with is held
    #: to before live QC vouches for their work (None: such an expert is vouched for)
    expected_s: float | None = None


REMOVAL_COLUMNS = ["rule", "reason"]


def _unit(df: pd.DataFrame) -> pd.Series:
    field = df["field"].astype(str) if "field" in df.columns else ""
    return df["task"].astype(str) + SEP + field


def _below(value: float, bar: float) -> str:
    """``value`` as a percentage that reads as under ``bar`` (69.6 % is not "70% < 70%")."""
    shown = f"{value:.0%}"
    return shown if shown != f"{bar:.0%}" else f"{math.floor(value * 1000) / 10:.1f}%"


def _pace(annotations: pd.DataFrame) -> pd.DataFrame:
    """Each expert's median time per judgment and number of judgments."""
    judgments = annotations.drop_duplicates(["task", "worker"])
    return judgments.groupby("worker")["lead_time_s"].agg(["median", "size"])


def _crowds(pace: pd.DataFrame, min_judgments: int = CROWD_MIN_JUDGMENTS,
            min_others: int = 2) -> dict[str, float]:
    """The pace each expert is held to: the median of the other experts' medians, for the
    experts that have a crowd (``min_others`` others with ``min_judgments`` each)."""
    settled = pace[pace["size"] >= min_judgments]["median"].dropna()
    out = {}
    for w in pace.index:
        others = settled.drop(index=w, errors="ignore")
        if len(others) >= min_others:
            out[w] = float(others.median())
    return out


def _too_fast(median: float, crowd: float | None, rules: LiveRules) -> bool:
    """A median time per judgment under ``min_speed_ratio`` of the pace held to."""
    return crowd is not None and crowd > 0 and not pd.isna(median) \
        and median < rules.min_speed_ratio * crowd


def reviewed(annotations: pd.DataFrame, rules: LiveRules) -> dict[str, int]:
    """Judgments per expert that live QC vouches for: all of an expert's judgments so far,
    unless their pace is under ``min_speed_ratio`` of the others' (anyone else with a
    judgment: holding an expert back is mild, so it asks less evidence than removal). An
    expert with nobody to compare with is held to the plan's time per judgment
    (``expected_s``), so that an honest expert who starts alone is not kept waiting for
    colleagues and a clicker who starts alone gets no free pass; with the speed rule off,
    everyone is vouched for."""
    if not len(annotations):
        return {}
    pace = _pace(annotations)
    if rules.min_speed_ratio <= 0:
        return {w: int(n) for w, n in pace["size"].items()}
    crowds = _crowds(pace, min_judgments=1, min_others=1)
    out = {}
    for w, r in pace.iterrows():
        if _too_fast(r["median"], crowds.get(w, rules.expected_s), rules):
            continue  # too fast for now: held until the speed rule can decide
        out[w] = int(r["size"])
    return out


def removals(annotations: pd.DataFrame, gold: pd.DataFrame, rules: LiveRules) -> pd.DataFrame:
    """Experts to remove now, indexed by worker, with the ``rule`` ("gold" or "speed") and a
    ``reason`` a delivery manager can read. ``annotations`` is the long QC contract (one row
    per field; ``lead_time_s`` per judgment); ``gold`` is (task, field, label)."""
    out: dict[str, tuple[str, str]] = {}
    if not len(annotations):
        return pd.DataFrame(columns=REMOVAL_COLUMNS)
    pace = _pace(annotations)
    if rules.min_speed_ratio > 0:
        crowds = _crowds(pace)
        for w, r in pace[pace["size"] >= rules.min_judgments_for_speed].iterrows():
            crowd = crowds.get(w)
            if _too_fast(r["median"], crowd, rules):
                out[w] = ("speed", f"median {r['median']:.1f} s per judgment over "
                                   f"{int(r['size'])} judgments, {r['median'] / crowd:.0%} of "
                                   f"the other experts' {crowd:.1f} s (bar: "
                                   f"{rules.min_speed_ratio:.0%})")
    if len(gold):  # one unit per (task, field): a rubric's criteria are judged apart
        units = annotations.assign(task=_unit(annotations))
        truth = pd.Series(gold["label"].to_numpy(), index=_unit(gold).to_numpy())
        acc = gold_accuracy(units, truth, tolerance=rules.gold_tolerance)
        low = acc[(acc["n_gold"] >= rules.min_gold_judgments)
                  & (acc["accuracy_ci_high"] < rules.min_gold_accuracy)]
        for w, r in low.iterrows():
            if w not in out:
                out[w] = ("gold", f"gold accuracy {r['accuracy']:.0%} ({int(r['n_correct'])}/"
                                  f"{int(r['n_gold'])}), 95% interval up to "
                                  f"{_below(r['accuracy_ci_high'], rules.min_gold_accuracy)} < "
                                  f"{rules.min_gold_accuracy:.0%}")
    df = pd.DataFrame.from_dict(out, orient="index", columns=REMOVAL_COLUMNS)
    df.index.name = "worker"
    return df.sort_index()

