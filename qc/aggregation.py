"""L5: aggregation of judgments into one label per task, with a confidence.

Estimators follow crowd-kit's shape: hyperparameters are fields, ``fit`` returns self,
fitted results end in ``_``. ``labels_`` is a Series task -> label; ``probas_`` a
DataFrame task x label of posterior probabilities; ``confidence_`` the posterior of the
chosen label. Checked against crowd-kit in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from qc.contract import check_annotations


@dataclass
class _Encoded:
    tasks: pd.Index
    workers: pd.Index
    labels: pd.Index
    t: np.ndarray
    w: np.ndarray
    y: np.ndarray


def _encode(data: pd.DataFrame) -> _Encoded:
    data = check_annotations(data)
    t, tasks = pd.factorize(data["task"], sort=True)
    w, workers = pd.factorize(data["worker"], sort=True)
    y, labels = pd.factorize(data["label"], sort=True)
    return _Encoded(pd.Index(tasks, name="task"), pd.Index(workers, name="worker"),
                    pd.Index(labels, name="label"), t, w, y)


def _vote_shares(e: _Encoded, weights: np.ndarray | None = None) -> np.ndarray:
    n_l = len(e.labels)
    shares = np.bincount(e.t * n_l + e.y, weights, len(e.tasks) * n_l) \
        .reshape(len(e.tasks), n_l).astype(float)
    return shares / shares.sum(axis=1, keepdims=True)


def _clamp(e: _Encoded, gold: pd.Series | None) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the gold tasks, and their one-hot known labels (a known label no worker
    gave cannot be held: such a task is left to EM)."""
    if gold is None or not len(gold):
        return np.array([], dtype=int), np.zeros((0, len(e.labels)))
    rows = e.tasks.get_indexer(gold.index)
    cols = e.labels.get_indexer(gold.to_numpy())
    ok = (rows >= 0) & (cols >= 0)
    onehot = np.zeros((int(ok.sum()), len(e.labels)))
    onehot[np.arange(int(ok.sum())), cols[ok]] = 1.0
    return rows[ok], onehot


def _sum_by(codes: np.ndarray, values: np.ndarray, start: np.ndarray) -> np.ndarray:
    """``start`` (n x L) plus, per column, the ``values`` (N x L) of the rows whose code
    is i added to row i, in their order: ``np.add.at(start.copy(), codes, values)``, to the
    last bit (the start goes first into each sum), with ``np.bincount``'s speed."""
    n = len(start)
    at = np.concatenate([np.arange(n), codes])
    return np.stack([np.bincount(at, np.concatenate([start[:, j], values[:, j]]), minlength=n)
                     for j in range(start.shape[1])], axis=1)


def _posterior(e: _Encoded, log_judged: np.ndarray, priors: np.ndarray,
               clamp_rows: np.ndarray, clamp: np.ndarray) -> np.ndarray:
    """The E-step: each task's posterior over the true labels from its judgments'
    log-likelihoods (judgment x true label) and the class priors, the gold tasks held at
    their known labels."""
    eps = np.finfo(float).tiny
    log_p = _sum_by(e.t, log_judged, np.zeros((len(e.tasks), len(e.labels)))
                    + np.log(np.maximum(priors, eps)))
    log_p -= log_p.max(axis=1, keepdims=True)
    new = np.exp(log_p)
    new /= new.sum(axis=1, keepdims=True)
    new[clamp_rows] = clamp
    return new


def _finish(est, e: _Encoded, probas: np.ndarray, best: np.ndarray | None = None) -> None:
    """Set ``probas_``, ``labels_`` (``best``: the chosen label's column per task; by
    default the most probable, ties going to the first label) and ``confidence_``."""
    est.probas_ = pd.DataFrame(probas, index=e.tasks, columns=e.labels)
    if best is None:
        best = probas.argmax(axis=1)
    est.labels_ = pd.Series(e.labels[best], index=e.tasks, name="label")
    est.confidence_ = pd.Series(probas[np.arange(len(best)), best], index=e.tasks,
                                name="confidence")


@dataclass
class MajorityVote:
    """The most frequent label per task; confidence is its share of the votes."""

    labels_: pd.Series | None = field(init=False, default=None)
    probas_: pd.DataFrame | None = field(init=False, default=None)
    confidence_: pd.Series | None = field(init=False, default=None)

    def fit(self, data: pd.DataFrame, gold: pd.Series | None = None) -> "MajorityVote":
        """(``gold`` is accepted for a common signature, and not used: a vote is a vote.)"""
        e = _encode(data)
        _finish(self, e, _vote_shares(e))
        return self

    def fit_predict(self, data: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
        return self.fit(data).labels_


@dataclass
class DawidSkene:
    """Dawid & Skene (1979): EM over per-worker confusion matrices and class priors.

    Initialised from majority-vote shares; stops after ``n_iter`` iterations or when no
    posterior moves by more than ``tol``.

    ``smoothing``: pseudo-judgments added to each row of each worker's confusion, spread as
    the crowd's pooled confusion (a Dirichlet prior). Without it a worker right on every
    one of their gold items gets an error rate of exactly 0, and their single vote then
    outweighs any number of others with certainty (seen: a wrong label delivered at
    confidence 1.0). 0.1 changes no label on the five real datasets and keeps each at least
    as accurate as crowd-kit's; 0 is crowd-kit's algorithm exactly.
    """

    n_iter: int = 100
    tol: float = 1e-5
    smoothing: float = 0.1
    labels_: pd.Series | None = field(init=False, default=None)
    probas_: pd.DataFrame | None = field(init=False, default=None)
    confidence_: pd.Series | None = field(init=False, default=None)
    priors_: pd.Series | None = field(init=False, default=None)
    errors_: pd.DataFrame | None = field(init=False, default=None)
    n_iter_: int = field(init=False, default=0)

    def fit(self, data: pd.DataFrame, gold: pd.Series | None = None) -> "DawidSkene":
        """``gold``: task -> known label, for tasks whose answer is known (hidden gold; tasks
        not in ``data`` are ignored): their posterior is held at the known label throughout
        EM, so the workers' confusion matrices learn from them as from certain evidence."""
        e = _encode(data)
        n_w, n_l = len(e.workers), len(e.labels)
        probas = _vote_shares(e)
        clamp_rows, clamp = _clamp(e, gold)
        probas[clamp_rows] = clamp
        eps = np.finfo(float).tiny
        for it in range(1, self.n_iter + 1):
            # M-step: priors and each worker's confusion (true label -> observed label)
            priors = probas.mean(axis=0)
            # errors[w, t, y]: expected judgments y by w of tasks whose true label is t
            errors = _sum_by(e.w * n_l + e.y, probas[e.t], np.zeros((n_w * n_l, n_l))) \
                .reshape(n_w, n_l, n_l).transpose(0, 2, 1).copy()
            if self.smoothing:
                pooled = errors.sum(axis=0)
                pooled /= np.maximum(pooled.sum(axis=1, keepdims=True), eps)
                errors += self.smoothing * pooled
            errors /= np.maximum(errors.sum(axis=2, keepdims=True), eps)
            # E-step: posterior over true labels per task
            new = _posterior(e, np.log(np.maximum(errors, eps))[e.w, :, e.y], priors,
                             clamp_rows, clamp)
            delta = np.abs(new - probas).max()
            probas = new
            if delta < self.tol:
                break
        self.n_iter_ = it
        self._fitted = (e, np.log(np.maximum(errors, eps)), np.log(np.maximum(priors, eps)))
        self.priors_ = pd.Series(priors, index=e.labels, name="prior")
        idx = pd.MultiIndex.from_product([e.workers, e.labels], names=["worker", "true_label"])
        self.errors_ = pd.DataFrame(errors.reshape(n_w * n_l, n_l), index=idx, columns=e.labels)
        _finish(self, e, probas)
        return self

    def fit_predict(self, data: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
        return self.fit(data, gold).labels_

    def without_own_vote(self) -> tuple[pd.DataFrame, np.ndarray]:
        """Per judgment of the fitted data (in its order): the posterior over the task's true
        label from the prior and the *other* workers' votes, under the fitted confusions
        (so a worker's own answer does not vouch for them), and how many other votes each
        rests on."""
        e, log_err, log_prior = self._fitted
        own = log_err[e.w, :, e.y]
        log_p = _sum_by(e.t, own, np.zeros((len(e.tasks), len(e.labels))) + log_prior)
        loo = log_p[e.t] - own
        loo -= loo.max(axis=1, keepdims=True)
        p = np.exp(loo)
        p /= p.sum(axis=1, keepdims=True)
        others = np.bincount(e.t, minlength=len(e.tasks))[e.t] - 1
        return pd.DataFrame(p, columns=e.labels), others



def _ordered(e: _Encoded) -> tuple[_Encoded, np.ndarray]:
    """``e`` with its labels in scale order, and each label's position on the scale: its
    number where every label is one ("-2" before "-1", "10" after "9"), else its rank in
    sorted order."""
    pos = pd.to_numeric(pd.Series(e.labels), errors="coerce").to_numpy(dtype=float)
    if np.isnan(pos).any():
        pos = np.arange(len(e.labels), dtype=float)
    order = np.argsort(pos, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return replace(e, labels=e.labels[order], y=rank[e.y]), pos[order]


@dataclass
class OrdinalDawidSkene:
    """A reliability-weighted aggregate for ordinal scales (Likert ratings, rubric criteria,
    graded preferences): Dawid & Skene (1979) with each worker's confusion constrained to the
    ordered scale, one reliability per worker and one error profile shared by the crowd.

    Worker w gives the true label k with probability a_w (their reliability, the "one
    coin" of Zhang, Chen, Zhou & Jordan 2016, *Spectral methods meet EM*, JMLR 17); else a
    label j at distance d = |j - k| on the scale, with probability proportional to q(d),
    estimated for the crowd (on a Likert scale most mistakes are one step off)::

        P(j | k, w) = a_w                                   if j == k
                      (1 - a_w) q(|j - k|) / sum_{j' != k} q(|j' - k|)   otherwise

    EM as in ``DawidSkene`` (initialised from the vote shares; gold tasks held at their
    known label). In the posterior a worker's answer j weighs log(a_w Z / ((1 - a_w) q(d)))
    for j over a label d away: a reliable worker outweighs several unreliable ones, and a
    near-miss tells against the labels next to it less than against far ones (a weighted
    median-like vote whose weights are learnt; cf. the ordinal crowd models of
    Lakshminarayanan & Teh 2013, *Inferring ground truth from multi-annotator ordinal
    data*). Each worker has one parameter instead of Dawid-Skene's K (K - 1): with the few
    dozen judgments of a campaign's expert the full confusion is mostly noise.

    M-step: a_w = (expected right + ``prior_n`` x the crowd's) / (judgments + ``prior_n``),
    shrunk toward the crowd's accuracy as ``WeightedMean`` shrinks variances; q by one
    minorise-maximise step of its likelihood (Hunter & Lange 2004) on the expected errors,
    with ``smoothing`` pseudo-errors per distance; class priors the mean posterior.

    ``decision``: "mode" delivers the most probable label (the most often right); "median"
    the posterior's median (the least expected absolute error). ``confidence_`` is the
    posterior mass at the delivered label. Labels are ordered by number when all are
    numbers (distances are then numeric differences), else in sorted order.
    """

    n_iter: int = 100
    tol: float = 1e-5
    prior_n: float = 5.0
    smoothing: float = 1.0
    decision: Literal["mode", "median"] = "mode"
    labels_: pd.Series | None = field(init=False, default=None)
    probas_: pd.DataFrame | None = field(init=False, default=None)
    confidence_: pd.Series | None = field(init=False, default=None)
    priors_: pd.Series | None = field(init=False, default=None)
    accuracies_: pd.Series | None = field(init=False, default=None)
    profile_: pd.Series | None = field(init=False, default=None)
    n_iter_: int = field(init=False, default=0)

    def fit(self, data: pd.DataFrame, gold: pd.Series | None = None) -> "OrdinalDawidSkene":
        """``gold``: task -> known label, held throughout EM (see ``DawidSkene.fit``)."""
        e, pos = _ordered(_encode(data))
        n_w, n_l = len(e.workers), len(e.labels)
        dist = np.abs(pos[:, None] - pos[None, :])
        steps, d_of = np.unique(dist, return_inverse=True)  # d_of: (k, j) -> distance index
        d_of = d_of.reshape(n_l, n_l)
        off = ~np.eye(n_l, dtype=bool)
        # per true label k: how many labels lie at each distance (the diagonal left out)
        n_at = np.zeros((n_l, len(steps)))
        np.add.at(n_at, (np.nonzero(off)[0], d_of[off]), 1.0)
        q = np.ones(len(steps))
        probas = _vote_shares(e)
        clamp_rows, clamp = _clamp(e, gold)
        probas[clamp_rows] = clamp
        eps = np.finfo(float).tiny
        n_per = np.bincount(e.w, minlength=n_w).astype(float)
        for it in range(1, self.n_iter + 1):
            # M-step: priors, reliabilities, error profile
            priors = probas.mean(axis=0)
            post = probas[e.t]                       # judgment x true label
            right = post[np.arange(len(e.y)), e.y]
            crowd = right.sum() / max(len(right), 1)
            acc = (np.bincount(e.w, right, n_w) + self.prior_n * crowd) / (n_per + self.prior_n)
            acc = np.clip(acc, 1e-6, 1 - 1e-6)
            errors = np.zeros((n_l, n_l))            # expected true k -> given j, k != j
            np.add.at(errors, (slice(None), e.y), post.T)
            errors[~off] = 0.0
            found = np.bincount(d_of[off], errors[off], len(steps)) + self.smoothing
            z = n_at @ q                             # per true label: sum_j' q(d)
            exposure = (errors.sum(axis=1) / np.maximum(z, eps)) @ n_at
            # (distance 0, the right answer, has no exposure: q 0 there)
            q = found / np.where(exposure > 0, exposure, np.inf)
            q /= max(q.sum(), eps)
            share = q[d_of] / np.maximum(n_at @ q, eps)[:, None]   # k -> j, off the diagonal
            # confusions: worker x true label x given label
            conf = (1 - acc)[:, None, None] * np.where(off, share, 0.0)[None]
            conf[:, np.arange(n_l), np.arange(n_l)] = acc[:, None]
            # E-step
            new = _posterior(e, np.log(np.maximum(conf[e.w, :, e.y], eps)), priors,
                             clamp_rows, clamp)
            delta = np.abs(new - probas).max()
            probas = new
            if delta < self.tol:
                break
        self.n_iter_ = it
        self.priors_ = pd.Series(priors, index=e.labels, name="prior")
        self.accuracies_ = pd.Series(acc, index=e.workers, name="accuracy")
        self.profile_ = pd.Series(q[1:], index=pd.Index(steps[1:], name="distance"),
                                  name="share")
        median = (probas.cumsum(axis=1) >= 0.5 - 1e-12).argmax(axis=1)
        _finish(self, e, probas, median if self.decision == "median" else None)
        return self

    def fit_predict(self, data: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
        return self.fit(data, gold).labels_


@dataclass
class WeightedMean:
    """A reliability-weighted mean for interval scales (numbers).

    Each worker's error variance is estimated from their residuals against the other
    workers' weighted mean of the same task (leave-one-out, so that a worker's own answer
    does not vouch for them), shrunk toward the crowd's pooled variance with the weight of
    ``prior_n`` residuals (a worker with few answers is taken as average); a task's value is
    the mean of its answers weighted by 1 / sigma ** (2 * ``power``). ``power`` 0.5 (1 /
    sigma) tempers weights that rest on few residuals; 1 is the inverse-variance weight.
    With every worker alike it is the plain mean.

    ``gold`` (task -> known value): those tasks are held at it, and their answers' residuals
    are taken against it (the equivalent of ``DawidSkene``'s clamping).

    ``labels_``: task -> value; ``std_error_``: task -> the value's standard error under
    the estimated variances (0 on gold); ``variances_``: worker -> error variance;
    ``confidence_``: NaN (a number has no posterior mass; for the campaign pipeline's
    common shape).
    """

    n_iter: int = 30
    prior_n: float = 10.0
    power: float = 0.5
    tol: float = 1e-9
    labels_: pd.Series | None = field(init=False, default=None)
    std_error_: pd.Series | None = field(init=False, default=None)
    variances_: pd.Series | None = field(init=False, default=None)
    confidence_: pd.Series | None = field(init=False, default=None)
    n_iter_: int = field(init=False, default=0)

    def fit(self, data: pd.DataFrame, gold: pd.Series | None = None) -> "WeightedMean":
        data = check_annotations(data)
        t, tasks = pd.factorize(data["task"], sort=True)
        w, workers = pd.factorize(data["worker"], sort=True)
        x = pd.to_numeric(data["label"], errors="raise").to_numpy(dtype=float)
        known = pd.Series(np.nan, index=tasks)
        if gold is not None and len(gold):
            g = pd.to_numeric(gold, errors="raise")
            known[g.index.intersection(tasks)] = g[g.index.intersection(tasks)]
        known = known.to_numpy(dtype=float)
        held = ~np.isnan(known)
        weights = np.ones(len(x))
        value = np.zeros(len(tasks))
        var = np.ones(len(workers))
        for it in range(1, self.n_iter + 1):
            sw = np.bincount(t, weights, len(tasks))
            swx = np.bincount(t, weights * x, len(tasks))
            new = swx / sw
            others_w = sw[t] - weights
            alone = others_w <= 0  # a task with one answer says nothing of its worker
            loo = np.where(alone, np.nan, (swx[t] - weights * x) / np.where(alone, 1, others_w))
            loo = np.where(held[t], known[t], loo)
            res2 = (x - loo) ** 2
            seen = ~np.isnan(res2)
            pooled = float(res2[seen].mean()) if seen.any() else 1.0
            n = np.bincount(w[seen], minlength=len(workers))
            ss = np.bincount(w[seen], res2[seen], minlength=len(workers))
            var = (ss + self.prior_n * pooled) / (n + self.prior_n)
            var = np.maximum(var, np.finfo(float).eps)
            weights = var[w] ** -self.power
            moved = np.abs(new - value).max() if it > 1 else np.inf
            value = new
            if moved < self.tol:
                break
        self.n_iter_ = it
        sw = np.bincount(t, weights, len(tasks))
        value = np.where(held, known, np.bincount(t, weights * x, len(tasks)) / sw)
        # Var(sum w x / sum w) with Var(x) = var of its worker
        se = np.where(held, 0.0, np.sqrt(np.bincount(t, weights ** 2 * var[w], len(tasks))) / sw)
        self.labels_ = pd.Series(value, index=pd.Index(tasks, name="task"), name="label")
        self.std_error_ = pd.Series(se, index=self.labels_.index, name="std_error")
        self.confidence_ = pd.Series(np.nan, index=self.labels_.index, name="confidence")
        self.variances_ = pd.Series(var, index=pd.Index(workers, name="worker"), name="variance")
        return self

    def fit_predict(self, data: pd.DataFrame, gold: pd.Series | None = None) -> pd.Series:
        return self.fit(data, gold).labels_


def calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error (ECE) of ``confidence`` against ``correct`` (0/1): equal-width bins over [0, 1], |accuracy - mean
    confidence| per bin weighted by its share of the items."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    if not len(confidence):
        return float("nan")
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(which):
        sel = which == b
        total += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    return float(total)


AGGREGATORS = {"dawid_skene": DawidSkene, "majority_vote": MajorityVote}
#: ``aggregation: weighted``: the reliability-weighted aggregate for the scale's level
WEIGHTED = {"nominal": DawidSkene, "ordinal": OrdinalDawidSkene, "interval": WeightedMean}


def aggregator(name: str, level: str = "nominal"):
    """A new estimator for ``QCConfig.aggregation`` ``name`` on a scale of ``level``:
    "weighted" is the reliability-weighted aggregate for the scale (Dawid-Skene on nominal
    labels, ``OrdinalDawidSkene`` on ordinal ones, ``WeightedMean`` on numbers); the other
    names are ``AGGREGATORS``' (the same estimator whatever the level)."""
    if name == "weighted":
        return WEIGHTED[level]()
    return AGGREGATORS[name]()
