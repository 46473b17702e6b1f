"""QC estimators on real crowd data, cross-checked against crowd-kit and krippendorff."""
from __future__ import annotations

from pathlib import Path

import krippendorff
import numpy as np
import pandas as pd
import pytest
from crowdkit.aggregation import DawidSkene as CKDawidSkene
from crowdkit.aggregation import MajorityVote as CKMajorityVote

from qc.agreement import krippendorff_alpha
from qc.aggregation import DawidSkene, MajorityVote

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "truth_inference"


def load(name: str) -> tuple[pd.DataFrame, pd.Series]:
    ans = pd.read_csv(FIX / name / "answer.csv", dtype=str)
    truth = pd.read_csv(FIX / name / "truth.csv", dtype=str).set_index("question")["truth"]
    data = ans.rename(columns={"question": "task", "answer": "label"})
    return data.drop_duplicates(["task", "worker"]), truth


@pytest.mark.parametrize("name", ["d_duck_identification", "s_dog"])
def test_dawid_skene_matches_crowdkit(name: str) -> None:
    data, truth = load(name)
    ours = DawidSkene(n_iter=100).fit(data)
    theirs = CKDawidSkene(n_iter=100).fit(data)
    common = truth.index.intersection(ours.labels_.index)
    acc_ours = (ours.labels_[common] == truth[common]).mean()
    acc_theirs = (theirs.labels_[common] == truth[common]).mean()
    assert abs(acc_ours - acc_theirs) <= 0.01
    assert (ours.labels_ == theirs.labels_.reindex(ours.labels_.index)).mean() >= 0.98
    # posteriors agree with crowd-kit's too, not just the argmax
    p_theirs = theirs.probas_.reindex(index=ours.probas_.index, columns=ours.probas_.columns)
    assert np.abs(ours.probas_.to_numpy() - p_theirs.to_numpy()).mean() < 0.02


def test_dawid_skene_beats_majority_vote_on_duck() -> None:
    data, truth = load("d_duck_identification")
    ds = DawidSkene().fit_predict(data)
    mv = MajorityVote().fit_predict(data)
    assert (ds[truth.index] == truth).mean() > (mv[truth.index] == truth).mean() + 0.05
    assert (ds[truth.index] == truth).mean() >= 0.88  # crowd-kit: 0.889


def test_majority_vote_matches_crowdkit_where_no_tie() -> None:
    data, _ = load("s_dog")
    ours = MajorityVote().fit(data)
    theirs = CKMajorityVote().fit(data)
    top = ours.probas_.max(axis=1)
    no_tie = (ours.probas_.eq(top, axis=0).sum(axis=1) == 1)
    idx = no_tie[no_tie].index
    assert len(idx) > 700
    assert (ours.labels_[idx] == theirs.labels_[idx]).all()


def _reliability(data: pd.DataFrame) -> np.ndarray:
    m = data.pivot(index="worker", columns="task", values="label")
    return m.apply(pd.to_numeric).to_numpy(dtype=float)


@pytest.mark.parametrize("name", ["d_duck_identification", "s_dog"])
@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval"])
def test_alpha_matches_krippendorff_package(name: str, level: str) -> None:
    data, _ = load(name)
    ours = krippendorff_alpha(data, level=level)
    theirs = krippendorff.alpha(reliability_data=_reliability(data), level_of_measurement=level)
    assert ours == pytest.approx(theirs, abs=1e-9)


def test_the_stats_keep_alpha_at_full_precision() -> None:
    """The manifest's figures are checkable to 1e-9 against the packages: nothing rounded
    but for display."""
    import krippendorff

    from qc.pipeline import QCConfig, run_layers
    data, _ = load("s_dog")
    result = run_layers(data[["task", "worker", "label"]], pd.Series(dtype=str),
                        QCConfig(min_gold_accuracy=0.0))
    stats = result.stats()
    assert stats.krippendorff_alpha == result.alpha
    assert abs(stats.krippendorff_alpha - krippendorff.alpha(
        reliability_data=_reliability(data), level_of_measurement="nominal")) < 1e-9
    assert stats.mean_confidence == float(result.outcome["confidence"].mean())
