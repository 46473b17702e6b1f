"""L1: copying between annotators (pure).

Two honest experts agree a lot because both are mostly right; what they do not share is
their mistakes, beyond chance. A copier shares the mistakes of the one they copy. So the
evidence is the *shared errors*: units both judged where both gave the same answer and it
is not what the others on the unit answered most (a leave-one-out plurality). Under
independence, with error rates ``e_a``
and ``e_b`` against the reference and errors spread over the ``L - 1`` wrong labels, two
annotators sharing ``n`` units are expected to share about ``n * e_a * e_b / (L - 1)``
errors, and to give the same answer on a share ``(1 - e_a)(1 - e_b) + e_a e_b / (L - 1)``
of them. A pair sharing at least ``min_shared`` units is flagged when

* they share at least ``min_shared_errors`` mistakes, and their agreement or their shared
  mistakes exceed what independence explains with a tail probability under ``alpha``
  (binomial for the agreement, Poisson for the mistakes); and
* one of them (the follower) submitted after the other on at least ``min_follow_share``
  of the units they share, beyond chance (a binomial test against a coin, under
  ``follow_alpha``: honest experts working side by side each come first about half the
  time), and soon after (a median delay of at most ``max_lag_s``): copying needs the
  original first. This second, independent test is what keeps honest pairs out.

Without submission times nothing is flagged: on real data honest experts share mistakes on
hard items, and only the timing tells copying from shared difficulty.

The follower is named as the copier and the other as the source; QC excludes the copier
(their judgments are not independent) and names both.

All pairs are counted at once over the pairs of judgments sharing a unit (``qc.pairs``), so
the cost grows with the judgments, not with the square of the workers' work.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.stats import binom, poisson

from qc.pairs import co_judged, pair_matrix, symmetric

#: how many units' weight the crowd's error rate has in each annotator's (see copy_pairs)
PRIOR_UNITS = 10

COPY_COLUMNS = ["copier", "source", "shared", "same", "shared_errors", "expected_errors",
                "p_value", "follow_share"]


@dataclass(frozen=True)
class CopyRules:
    min_shared: int = 20
    min_shared_errors: int = 1
    #: the excess's tail probability (the timing must agree too: see ``follow_alpha``;
    #: experts in different time zones follow one another all the time)
    alpha: float = 0.01
    min_follow_share: float = 0.7
    #: following must be beyond chance too (binomial against a coin: honest experts
    #: working side by side each come first about half the time)
    follow_alpha: float = 0.001
    #: "soon after": the follower's median delay behind the other on their shared units
    max_lag_s: float = 1800.0


def copy_pairs(data: pd.DataFrame, rules: CopyRules = CopyRules()) -> pd.DataFrame:
    """Pairs that copied (one row per pair, columns ``COPY_COLUMNS``). ``data``: one row
    per judgment with ``task`` (the unit), ``worker``, ``label``, ``created_at`` (submission
    time) and optionally ``item`` (what was submitted at once: the fields of one item share
    one submission, so the timing is counted per item, not per field)."""
    if not len(data) or "created_at" not in data.columns or data["created_at"].isna().all():
        # without submission times there is no telling copying from shared difficulty: on
        # real data honest experts share mistakes on hard items
        return pd.DataFrame(columns=COPY_COLUMNS)
    t, units = pd.factorize(data["task"])
    w, workers = pd.factorize(data["worker"], sort=True)
    y, labels = pd.factorize(data["label"].astype(str))
    n_labels = len(labels)
    if n_labels < 2 or len(workers) < 2:
        return pd.DataFrame(columns=COPY_COLUMNS)
    # a mistake: an answer the others on the unit gave less often than some other answer
    # (leave-one-out plurality: a copied mistake must not make itself the reference)
    votes = sparse.csr_matrix((np.ones(len(t)), (t, y)), shape=(len(units), n_labels)).toarray()
    others = votes[t]
    others[np.arange(len(t)), y] -= 1
    wrong = others[np.arange(len(t)), y] < others.max(axis=1)
    k_w = len(workers)
    ra, rb = co_judged(t, w, k_w)                      # every two judgments of a unit
    wa, wb = w[ra], w[rb]                               # wa < wb
    n_w = np.bincount(w, minlength=k_w).astype(float)
    shared = symmetric(pair_matrix(wa, wb, k_w), n_w)
    # a shared mistake: the pair gave the same answer, and the judges of the unit other than
    # the two of them answered something else more often (two copying a third's unit would
    # otherwise be its plurality, their shared mistake invisible)
    own = votes[t, y]
    rival = np.where(np.arange(n_labels)[None, :] == y[:, None], -1, votes[t]).max(axis=1)
    pair_wrong = rival > own - 2
    alike = y[ra] == y[rb]
    same = pair_matrix(wa, wb, k_w, alike.astype(float))                   # (a < b only)
    same_wrong = pair_matrix(wa, wb, k_w, (alike & pair_wrong[ra]).astype(float))
    # each one's error rate on the units the *other* of the pair did not judge: on those
    # they share, a copied answer makes the pair each other's reference (with three
    # judges to a unit, two who copy are the plurality and look flawless)
    n_wrong = np.bincount(w, wrong.astype(float), minlength=k_w)
    # [a, b]: a's mistakes on units b judged (both ways round)
    wrong_shared = pair_matrix(np.r_[wa, wb], np.r_[wb, wa], k_w,
                               np.r_[wrong[ra], wrong[rb]].astype(float))
    rest = n_w[:, None] - shared
    crowd = float(n_wrong.sum() / max(n_w.sum(), 1))
    # (shrunk toward the crowd's with PRIOR_UNITS units' weight: few units left say little)
    err_excl = (n_wrong[:, None] - wrong_shared + PRIOR_UNITS * crowd) / (rest + PRIOR_UNITS)
    iu = np.triu_indices(len(workers), k=1)
    n = shared[iu]
    ea, eb = err_excl[iu[0], iu[1]], err_excl[iu[1], iu[0]]
    # under independence: both right, or the same one of the L - 1 wrong answers
    p_same = (1 - ea) * (1 - eb) + ea * eb / (n_labels - 1)
    # shared "mistakes" expected under independence, unit by unit with the m others beside
    # the pair (judging at the crowd's error rate): both right while the others' plurality
    # is wrong, or both wrong alike while it is right
    m = np.bincount(t, minlength=len(units)) - 2.0
    m_ok = np.maximum(m, 0)
    wrong_ref = np.where(m > 0, binom.sf(np.floor(m_ok / 2), m_ok, crowd), 0.0)
    right_ref = np.where(m > 0, binom.cdf(np.ceil(m_ok / 2) - 1, m_ok, crowd), 0.0)
    s_wrong = pair_matrix(wa, wb, k_w, wrong_ref[t[ra]])[iu]
    s_right = pair_matrix(wa, wb, k_w, right_ref[t[ra]])[iu]
    lam = (1 - ea) * (1 - eb) * s_wrong + ea * eb / (n_labels - 1) * s_right
    obs_same, obs_err = same[iu], same_wrong[iu]
    p = np.minimum(binom.sf(obs_same - 1, n, np.clip(p_same, 1e-12, 1 - 1e-12)),
                   poisson.sf(obs_err - 1, np.maximum(lam, 1e-12)))
    hit = (n >= rules.min_shared) & (obs_err >= rules.min_shared_errors) & (p < rules.alpha)
    # the timing, for the pairs flagged so far: the follower (b when b came later on at
    # least half of their items with times, else a), their share of later submissions
    # and their median delay
    a, b = iu[0][hit], iu[1][hit]
    n_timed, b_later, b_delay = _timing(data, w, len(workers), a, b)
    share = b_later / np.maximum(n_timed, 1)
    b_follows = share >= 0.5
    follow = np.where(b_follows, share, 1.0 - share)
    delay = np.where(b_follows, b_delay, -b_delay)
    timed = n_timed > 0
    follows = timed & (follow >= rules.min_follow_share) & (delay <= rules.max_lag_s) & \
        (binom.sf(np.round(follow * n_timed) - 1, np.where(timed, n_timed, 1), 0.5)
         < rules.follow_alpha)
    copier, source = np.where(b_follows, b, a), np.where(b_follows, a, b)
    rows = [{"copier": workers[c], "source": workers[s], "shared": int(shared[x, y]),
             "same": int(same[x, y]), "shared_errors": int(o), "expected_errors": float(lm),
             "p_value": float(pv), "follow_share": float(f)}
            for c, s, x, y, o, lm, pv, f in zip(
                copier[follows], source[follows], a[follows], b[follows],
                obs_err[hit][follows], lam[hit][follows], p[hit][follows], follow[follows])]
    return pd.DataFrame(rows, columns=COPY_COLUMNS)


def _timing(data: pd.DataFrame, w: np.ndarray, n_workers: int, a: np.ndarray, b: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair of workers ``(a[i], b[i])`` (codes ``w`` of ``data``'s rows, a < b,
    the pairs in increasing order): on how many items both have a submission time, on how
    many of those b submitted after a, and b's median delay behind a in seconds (NaN where
    no item has both times). An item's time per worker is their first submission on it
    (``item``, else ``task``). All pairs at once: no pivot per pair."""
    wanted = a.astype(np.int64) * n_workers + b            # increasing, as the pairs are
    if not len(wanted):
        return np.zeros(0, dtype=np.int64), np.zeros(0), np.zeros(0)
    # only the rows of workers in some pair, with a time
    involved = np.zeros(n_workers, dtype=bool)
    involved[a], involved[b] = True, True
    stamp = pd.to_datetime(data["created_at"], utc=True).dt.tz_convert(None).to_numpy()
    rows = involved[w] & ~np.isnat(stamp)
    item, _ = pd.factorize((data["item"] if "item" in data.columns else data["task"])[rows])
    ns = stamp[rows].astype("datetime64[ns]").view("int64")
    # one row per (item, worker): the first time, sorted by item, then worker
    key = item.astype(np.int64) * n_workers + w[rows]
    order = np.argsort(key, kind="stable")
    key, ns = key[order], ns[order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    key, ns = key[first], np.minimum.reduceat(ns, first) if len(ns) else ns
    item_of, worker_of = key // n_workers, key % n_workers
    # every two workers of an item, those of the pairs asked about
    lo, hi = co_judged(item_of, worker_of, n_workers)
    code = worker_of[lo] * n_workers + worker_of[hi]
    at = np.minimum(np.searchsorted(wanted, code), len(wanted) - 1)
    mine = wanted[at] == code
    pair = at[mine]
    lag = (ns[hi] - ns[lo])[mine] / 1e9                   # b's time minus a's, in seconds
    n = np.bincount(pair, minlength=len(a))
    later = np.bincount(pair, lag > 0, minlength=len(a))
    # the median: the middle one (or two) of each pair's sorted delays
    lag = lag[np.lexsort((lag, pair))]
    start = np.cumsum(n) - n
    some = n > 0
    mid_lo = np.where(some, start + (n - 1) // 2, 0)
    mid_hi = np.where(some, start + n // 2, 0)
    median = np.where(some, (lag[mid_lo] + lag[mid_hi]) / 2 if len(lag) else 0.0, np.nan)
    return n, later, median


def copy_reasons(pairs: pd.DataFrame) -> dict[str, str]:
    """Copier -> why, naming the source (a copier of several: each named)."""
    out: dict[str, list[str]] = {}
    for r in pairs.itertuples():
        when = (f"; submitted after them on {r.follow_share:.0%} of those"
                if r.follow_share is not None and not pd.isna(r.follow_share) else "")
        out.setdefault(r.copier, []).append(
            f"copying {r.source}: the same answer on {r.same} of {r.shared} shared items, "
            f"{r.shared_errors} of them the same mistake where {r.expected_errors:.1f} were "
            f"expected{when}")
    return {k: "; ".join(v) for k, v in out.items()}
