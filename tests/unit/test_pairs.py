"""qc.pairs: every two judgments of a unit, once each, and their sums, against brute force."""
from itertools import combinations

import numpy as np
import pytest

from qc.pairs import co_judged, pair_matrix, symmetric


@pytest.mark.parametrize("seed", range(5))
def test_every_two_rows_of_a_unit_once_the_lower_worker_first(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_workers, rows = 12, []
    for unit in range(60):  # units of 0 to 12 judgments, each worker once on a unit
        for worker in rng.choice(n_workers, rng.integers(0, n_workers + 1), replace=False):
            rows.append((unit, worker))
    rng.shuffle(rows)
    unit, worker = (np.array(c) for c in zip(*rows))
    a, b = co_judged(unit, worker, n_workers)
    got = sorted(zip(a.tolist(), b.tolist()))
    want = sorted((i, j) if worker[i] < worker[j] else (j, i)
                  for i, j in combinations(range(len(rows)), 2) if unit[i] == unit[j])
    assert got == want and (worker[a] < worker[b]).all()
    # shared units per pair of workers, against counting them one by one
    shared = symmetric(pair_matrix(worker[a], worker[b], n_workers),
                       np.bincount(worker, minlength=n_workers))
    units_of = [set(unit[worker == w]) for w in range(n_workers)]
    assert shared.tolist() == [[len(units_of[i] & units_of[j]) for j in range(n_workers)]
                               for i in range(n_workers)]


def test_no_unit_with_two_judgments_gives_no_pairs() -> None:
    a, b = co_judged(np.array([0, 1, 2]), np.array([0, 0, 1]), 2)
    assert len(a) == len(b) == 0
    a, b = co_judged(np.zeros(0, dtype=int), np.zeros(0, dtype=int), 0)
    assert len(a) == 0
