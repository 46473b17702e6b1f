"""Drift (issue 10, L2, ``qc.drift``): an annotator whose later work, in their own submission
order, falls to confidently under the bar is excluded; a steady expert, or one whose
later work is merely a little worse, is not."""
from __future__ import annotations

import numpy as np
import pandas as pd

from qc.drift import drift
from qc.pipeline import QCConfig, run_layers

START = pd.Timestamp("2026-11-02 06:00", tz="UTC")


def _times(n: int) -> pd.Series:
    return pd.Series(START + pd.to_timedelta(np.arange(n) * 90.0, unit="s"))


def test_a_fall_to_under_the_bar_is_flagged_and_a_steady_or_mild_one_is_not() -> None:
    n = 40
    falls = np.r_[np.ones(20), np.tile([1.0, 0.0, 0.0], 7)[:20]]       # 1.0, then ~0.35
    steady = np.tile([1.0, 1.0, 1.0, 1.0, 0.0], 8).astype(float)        # 0.8 throughout
    mild = np.r_[np.ones(20), np.tile([1.0, 1.0, 1.0, 1.0, 0.0], 4)]   # 1.0, then 0.8
    scores = pd.Series(np.r_[falls, steady, mild])
    worker = pd.Series(["falls"] * n + ["steady"] * n + ["mild"] * n)
    at = pd.concat([_times(n)] * 3, ignore_index=True)
    # shuffled rows: the order that counts is the submission time, not the table's
    order = np.random.default_rng(0).permutation(len(scores))
    out = drift(scores[order].reset_index(drop=True), worker[order].reset_index(drop=True),
                at[order].reset_index(drop=True), bar=0.7)
    assert out.loc["falls", "drifted"], out
    assert out.loc["falls", "drift_late_n"] == 20 and out.loc["falls", "drift_p_value"] < 0.05
    assert not out.loc["steady", "drifted"] and not out.loc["mild", "drifted"], out
    assert out.loc["mild", "drift_late_ci_high"] > 0.7  # a decline, but not to under the bar


def _campaign(n_items: int = 60) -> tuple[pd.DataFrame, pd.Series]:
    """Three experts always right judge every item; "d" judges them too, right on the first
    30 of their own (gold among them), then wrong on two in three."""
    truth = pd.Series(np.where(np.arange(n_items) % 3 == 0, "b", "a"),
                      index=[f"t{i:02d}" for i in range(n_items)])
    rows = []
    for i, (t, y) in enumerate(truth.items()):
        for j, w in enumerate(("h1", "h2", "h3")):
            rows.append((t, w, y, START + pd.Timedelta(minutes=2 * i + j)))
        wrong = i >= 30 and i % 3 != 0
        rows.append((t, "d", ("b" if y == "a" else "a") if wrong else y,
                     START + pd.Timedelta(minutes=2 * i + 1.5)))
    data = pd.DataFrame(rows, columns=["task", "worker", "label", "created_at"])
    return data, truth[[f"t{i:02d}" for i in range(0, 30, 5)]]


def test_the_pipeline_excludes_the_drifting_expert_with_the_figures_and_keeps_the_steady() -> None:
    data, gold = _campaign()
    res = run_layers(data, gold, QCConfig())
    w = res.workers
    assert w.loc["d", "excluded"], w
    assert "later work worse" in w.loc["d", "exclusion_reason"]
    assert "over their last 30 of 60 judgments" in w.loc["d", "exclusion_reason"]
    assert not w.loc[["h1", "h2", "h3"], "excluded"].any()
    check = next(c for c in res.checks if c.name == "drift")
    assert not check.passed and check.metrics["flagged"] == ["d"]
    # without submission times, or switched off, the rule says nothing
    assert not run_layers(data.drop(columns="created_at"), gold, QCConfig()).workers.loc["d", "excluded"]
    assert not run_layers(data, gold, QCConfig(drift_alpha=0)).workers.loc["d", "excluded"]


def test_each_workers_trend_is_scipys_linregress_in_their_submission_order() -> None:
    """The slopes and one-sided p-values, computed for every worker at once, are scipy's
    ``linregress(rank, score, alternative="less")`` on each worker's own scores in time
    order (ties in time kept in the table's order; NaN scores and times not counted)."""
    from scipy.stats import linregress

    rng = np.random.default_rng(7)
    rows = []
    for i, n in enumerate([12, 25, 40, 9, 60]):
        times = START + pd.to_timedelta(rng.integers(0, 30, n) * 60.0, unit="s")  # ties
        for t, s in zip(times, rng.uniform(0, 1, n)):
            rows.append((f"w{i}", t, s))
    frame = pd.DataFrame(rows, columns=["worker", "at", "s"]).sample(frac=1, random_state=1)
    frame.iloc[::17, 2] = np.nan
    frame = frame.reset_index(drop=True)
    out = drift(frame["s"], frame["worker"], frame["at"], bar=0.7, min_judgments=3)
    assert sorted(out.index) == ["w0", "w1", "w2", "w3", "w4"]
    for w, g in frame.dropna().groupby("worker"):
        s = g.sort_values("at", kind="stable")["s"].to_numpy()
        fit = linregress(np.arange(len(s), dtype=float), s, alternative="less")
        assert out.at[w, "drift_n"] == len(s)
        assert abs(out.at[w, "drift_slope"] - fit.slope * len(s)) < 1e-9
        assert abs(out.at[w, "drift_p_value"] - fit.pvalue) < 1e-9
        late = int(np.floor(0.5 * len(s)))
        assert abs(out.at[w, "drift_late_accuracy"] - s[-late:].mean()) < 1e-12
        assert out.at[w, "drift_since"] == g.sort_values("at", kind="stable")["at"].iloc[-late]
