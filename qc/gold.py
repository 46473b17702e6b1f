"""L2: annotator accuracy on hidden gold items."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qc.contract import check_annotations, gold_series

if TYPE_CHECKING:
    from qc.aggregation import DawidSkene

#: the two-sided 95% normal quantile, exactly (scipy.stats.norm.ppf(0.975)), so the
#: intervals equal statsmodels' ``proportion_confint(method="wilson")``
Z95 = 1.959963984540054


def wilson_interval(successes: np.ndarray, n: np.ndarray,
                    z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval (95 % by default): (lower, upper), (0, 1) where n == 0."""
    n = np.asarray(n, dtype=float)
    p = np.divide(successes, n, out=np.zeros_like(n), where=n > 0)
    m = np.maximum(n, 1)
    denom = 1 + z * z / m
    centre = p + z * z / (2 * m)
    margin = z * np.sqrt(p * (1 - p) / m + z * z / (4 * m ** 2))
    return (np.where(n > 0, (centre - margin) / denom, 0.0),
            np.where(n > 0, (centre + margin) / denom, 1.0))


def wilson_lower(successes: np.ndarray, n: np.ndarray, z: float = Z95) -> np.ndarray:
    """Lower bound of the Wilson score interval (0 where n == 0)."""
    return wilson_interval(successes, n, z)[0]


def gold_accuracy(annotations: pd.DataFrame, gold: pd.DataFrame | pd.Series,
                  tolerance: float = 0) -> pd.DataFrame:
    """Per worker: ``n_gold``, ``n_correct``, ``accuracy`` and its 95 % Wilson interval
    (``accuracy_ci_low``, ``accuracy_ci_high``).

    With ``tolerance`` > 0 labels are numeric (an ordinal scale) and an answer within
    ``tolerance`` of the gold one counts as correct. Workers with no gold judgments get
    n_gold 0 and accuracy NaN.
    """
    data = check_annotations(annotations)
    truth = gold_series(gold)
    workers = pd.Index(data["worker"].unique(), name="worker")
    on_gold = data[data["task"].isin(truth.index)]
    given, expected = on_gold["label"].to_numpy(), truth.loc[on_gold["task"]].to_numpy()
    correct = _correct(given, expected, tolerance)
    g = pd.DataFrame({"worker": on_gold["worker"].to_numpy(), "correct": correct})
    stats = g.groupby("worker")["correct"].agg(n_gold="size", n_correct="sum")
    stats = stats.reindex(workers, fill_value=0).astype("int64")
    n, k = stats["n_gold"].to_numpy(), stats["n_correct"].to_numpy()
    stats["accuracy"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    stats["accuracy_ci_low"], stats["accuracy_ci_high"] = wilson_interval(k, n)
    return stats


def _correct(given: np.ndarray, expected: np.ndarray, tolerance: float) -> np.ndarray:
    if tolerance > 0:
        return np.abs(given.astype(float) - expected.astype(float)) <= tolerance
    return given == expected


def judgment_scores(annotations: pd.DataFrame, gold: pd.DataFrame | pd.Series,
                    tolerance: float = 0,
                    model: "DawidSkene | None" = None) -> tuple[pd.Series, pd.Series]:
    """Each judgment's chance of being right, and each worker's accuracy under the model.

    The first Series (aligned with ``annotations``' index): a gold judgment is right (1) or
    wrong (0); any other is the probability that it is right given the other annotators'
    answers on that task (the Dawid-Skene posterior without the worker's own vote, the gold
    answers clamped while it is fitted); NaN on a task nobody else judged (it says nothing).
    The second (worker -> accuracy): the fitted Dawid-Skene confusion's accuracy under the
    class priors. See ``estimated_accuracy``, which sums the first per worker, and
    ``qc.drift``, which reads it in each worker's submission order.

    ``model``: that Dawid-Skene model when the caller has already fitted it (on these
    judgments, the gold clamped, default hyperparameters); fitted here otherwise.
    """
    from qc.aggregation import DawidSkene  # L5's estimator, used here for its confusions

    data = check_annotations(annotations)
    truth = gold_series(gold)
    if not len(data):
        return pd.Series(dtype=float, index=data.index), pd.Series(dtype=float)
    ds = model if model is not None else DawidSkene().fit(data[["task", "worker", "label"]],
                                                          gold=truth)
    post, others = ds.without_own_vote()
    labels = post.columns.to_numpy()
    # each judgment's label as a column of the posterior (factorized first: a million Arrow
    # strings made str objects cost more than the rest of this function)
    code, distinct = pd.factorize(data["label"])
    column = pd.Index(labels).get_indexer(distinct)[code]
    # ok[t, g]: answering label g when the truth is label t counts as right
    ok = np.array([[bool(_correct(np.array([g], dtype=object), np.array([t], dtype=object),
                                  tolerance)[0]) for g in labels] for t in labels], dtype=float)
    # probability the given label is right: the posterior mass of the labels it matches
    soft = (post.to_numpy() * ok[:, column].T).sum(axis=1)
    on_gold = data["task"].isin(truth.index).to_numpy()
    if on_gold.any():
        soft[on_gold] = _correct(data.loc[on_gold, "label"].to_numpy(),
                                 truth.loc[data.loc[on_gold, "task"]].to_numpy(), tolerance)
    soft[~(on_gold | (others > 0))] = np.nan
    # the model's own estimate of each worker's accuracy (their confusion, weighted by the
    # class priors): unlike the count above it is not pulled down by the others' doubt
    err = ds.errors_.to_numpy().reshape(-1, len(labels), len(labels))  # (same labels)
    model = pd.Series((err * ok[None]).sum(axis=2) @ ds.priors_.reindex(labels).to_numpy(),
                      index=ds.errors_.index.get_level_values(0).unique())
    return pd.Series(soft, index=data.index, name="right"), model


def estimated_accuracy(annotations: pd.DataFrame, gold: pd.DataFrame | pd.Series,
                       tolerance: float = 0,
                       scores: tuple[pd.Series, pd.Series] | None = None) -> pd.DataFrame:
    """Per worker, accuracy from all their work, not the gold alone: each gold judgment
    counts as right or wrong; each other judgment counts as the probability that it is
    right, given the other annotators' answers on that task (``judgment_scores``; a task
    nobody else judged says nothing and is left out). ``scores``: ``judgment_scores``'
    result when already computed.

    Columns ``est_n`` (judgments counted), ``est_right`` (expected right ones),
    ``est_accuracy`` and its 95 % Wilson interval (``est_ci_low``, ``est_ci_high``), and
    ``model_accuracy``: the fitted Dawid-Skene confusion's accuracy under the class priors. A
    random clicker with five gold judgments can be 3 of 5 right by luck; over 40 tasks the
    others also judged, their answers agree with the crowd's no better than chance.
    """
    data = check_annotations(annotations)
    workers = pd.Index(data["worker"].unique(), name="worker")
    soft, model = scores if scores is not None else judgment_scores(data, gold, tolerance)
    counted = soft.notna().to_numpy()
    frame = pd.DataFrame({"worker": data["worker"].array[counted],  # (Arrow: no str objects)
                          "right": soft.to_numpy()[counted]})
    stats = frame.groupby("worker")["right"].agg(est_n="size", est_right="sum")
    stats = stats.reindex(workers).fillna({"est_n": 0, "est_right": 0.0})
    n, k = stats["est_n"].to_numpy(dtype=float), stats["est_right"].to_numpy(dtype=float)
    stats["est_n"] = stats["est_n"].astype("int64")
    stats["est_accuracy"] = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    stats["est_ci_low"], stats["est_ci_high"] = wilson_interval(k, n)
    stats["model_accuracy"] = model.reindex(stats.index)
    return stats
