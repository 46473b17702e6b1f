"""L4, expert review (pure): which delivered units reviewers see, what their verdicts make
of the delivery, and the acceptance rate that gates it.

A unit is what one delivery row rests on: an item for voted work (all its fields), an
accepted text for free text (item + writer). A reviewer sees the unit's inputs and what is
to be delivered for it, and gives one verdict:

* ``accept``: delivered as it is;
* ``correct``: the reviewer's own answer is delivered instead (a full answer is required);
* ``reject``: judged again once (``tasks.review.redo``: fresh judgments of the item, or
  a fresh text), and the new result reviewed in turn; what is rejected then is not
  delivered (an item with nothing left is unresolved).

The acceptance rate is the share of reviewed units accepted as they were, with its 95%
Wilson interval. Delivery is blocked when that interval lies wholly under
``qc.min_review_acceptance`` (confidently under the bar, as the accuracy rule excludes an
annotator); a point estimate under the bar whose interval still reaches it is a warning.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from qc.checks import CheckResult
from qc.gold import wilson_interval

if TYPE_CHECKING:
    from qc.pipeline import QCResult

VERDICTS = ("accept", "correct", "reject")
#: the unit of a voted item's second review, once it was judged again after a rejection
REDONE = "#2"
#: the verdict rows a review stage hands over
VERDICT_COLUMNS = ["unit", "task", "writer", "reviewer", "verdict", "correction_json",
                   "lead_time_s", "created_at"]


def units(outcome: pd.DataFrame, free_text: bool) -> pd.DataFrame:
    """What can be reviewed: unit, task, writer (free text; else None), answer (the
    ``{field: value}`` to be delivered), one row per unit, sorted by unit."""
    if not len(outcome):
        return pd.DataFrame(columns=["unit", "task", "writer", "answer"])
    if free_text:
        df = outcome.assign(unit=outcome["task"].astype(str) + "/" + outcome["worker"].astype(str),
                            writer=outcome["worker"].astype(str),
                            answer=[{"text": v} for v in outcome["value"]])
        return df[["unit", "task", "writer", "answer"]].sort_values("unit").reset_index(drop=True)
    rows = [{"unit": str(t), "task": t, "writer": None,
             "answer": dict(zip(g["field"].astype(str), g["label"].astype(str)))}
            for t, g in outcome.groupby("task", sort=True)]
    return pd.DataFrame(rows, columns=["unit", "task", "writer", "answer"])


def sample(candidates: pd.DataFrame, rate: float, seed: str) -> pd.DataFrame:
    """``ceil(rate * n)`` of the units (at least one when there are any), chosen by a hash
    of (seed, unit): the same campaign samples the same units however often it is asked,
    and nobody can tell from a unit's position whether it will be reviewed."""
    if not len(candidates):
        return candidates
    n = min(len(candidates), max(1, int(np.ceil(rate * len(candidates) - 1e-9))))
    key = candidates["unit"].map(lambda u: hashlib.sha256(f"review|{seed}|{u}".encode()).hexdigest())
    return candidates.loc[key.sort_values(kind="stable").index[:n]].sort_values("unit") \
        .reset_index(drop=True)


def shown_answer(answer: dict[str, str]) -> str:
    """What the reviewer reads as the answer to be delivered: ``field: value`` lines (a
    free text as it is)."""
    if set(answer) == {"text"}:
        return answer["text"]
    return "\n".join(f"{k}: {v}" for k, v in answer.items())


@dataclass(frozen=True)
class ReviewSummary:
    """The verdicts on the sample (the latest readable one per unit) and what they add up to."""
    verdicts: pd.DataFrame            # VERDICT_COLUMNS, one per reviewed unit
    sampled: int
    min_acceptance: float
    unreadable: int = 0               # reviews whose result could not be read (not counted)

    def count(self, verdict: str) -> int:
        return int((self.verdicts["verdict"] == verdict).sum())

    @property
    def reviewed(self) -> int:
        return int(len(self.verdicts))

    @property
    def acceptance(self) -> float | None:
        return self.count("accept") / self.reviewed if self.reviewed else None

    @property
    def interval(self) -> tuple[float, float]:
        lo, hi = wilson_interval(np.array([self.count("accept")]), np.array([self.reviewed]))
        return float(lo[0]), float(hi[0])

    def by_reviewer(self) -> pd.DataFrame:
        """reviewer -> reviewed, accept, correct, reject."""
        counts = pd.crosstab(self.verdicts["reviewer"], self.verdicts["verdict"]) \
            .reindex(columns=list(VERDICTS), fill_value=0)
        return counts.assign(reviewed=counts.sum(axis=1))[["reviewed", *VERDICTS]]

    def check(self) -> CheckResult:
        if not self.reviewed:
            return CheckResult("review_acceptance", "L4", passed=False, severity="error",
                               summary=f"none of the {self.sampled} sampled items was reviewed",
                               metrics={"sampled": self.sampled, "reviewed": 0})
        lo, hi = self.interval
        acc = self.acceptance
        confidently_under = hi < self.min_acceptance
        passed = acc >= self.min_acceptance
        summary = (f"{self.count('accept')} of {self.reviewed} reviewed items accepted as they "
                   f"were ({acc:.0%}, 95% interval {lo:.0%}–{hi:.0%}; bar "
                   f"{self.min_acceptance:.0%}); {self.count('correct')} corrected, "
                   f"{self.count('reject')} rejected")
        if not passed and not confidently_under:
            summary += "; under the bar, but not confidently: delivered"
        return CheckResult("review_acceptance", "L4", passed=passed,
                           severity="error" if confidently_under else "warning",
                           summary=summary, metrics=self.stats())

    def stats(self) -> dict:
        """The manifest's figures, at full precision (reviewers by id: pseudonymised at
        delivery like every annotator)."""
        lo, hi = self.interval if self.reviewed else (None, None)
        return {"sampled": self.sampled, "reviewed": self.reviewed,
                "accepted": self.count("accept"), "corrected": self.count("correct"),
                "rejected": self.count("reject"), "unreadable": self.unreadable,
                "acceptance": self.acceptance, "acceptance_ci": [lo, hi] if self.reviewed else None,
                "min_acceptance": self.min_acceptance,
                "by_reviewer": {str(r): {k: int(v) for k, v in row.items()}
                                for r, row in self.by_reviewer().iterrows()}}


def summarize(verdicts: pd.DataFrame, sampled: int, min_acceptance: float,
              unreadable: int = 0) -> ReviewSummary:
    """The latest verdict per unit (a reviewer may revise theirs) of ``verdicts``."""
    latest = (verdicts.sort_values("created_at", kind="stable")
              .drop_duplicates("unit", keep="last").sort_values("unit").reset_index(drop=True))
    return ReviewSummary(latest.reindex(columns=VERDICT_COLUMNS), sampled, min_acceptance,
                         unreadable)


def second_looks(drawn: pd.DataFrame, verdicts: pd.DataFrame, team: list[str]) -> dict[str, list[str]]:
    """Who must not review each round-2 unit (``drawn``'s ``round`` 2): the reviewers who
    rejected a unit of the same item in round 1, so that the look that decides is another
    reviewer's. Nobody is barred where that would leave no one of ``team`` to review."""
    if "round" not in drawn or not len(verdicts):
        return {}
    first = set(drawn.loc[drawn["round"] == 1, "unit"].astype(str))
    rejected = verdicts[(verdicts["verdict"] == "reject") & verdicts["unit"].astype(str).isin(first)]
    by_task = rejected.groupby(rejected["task"].astype(str))["reviewer"].agg(lambda r: sorted(set(r)))
    out = {}
    for r in drawn[drawn["round"] == 2].itertuples():
        barred = by_task.get(str(r.task), [])
        if barred and set(team) - set(barred):
            out[str(r.unit)] = barred
    return out


def apply_review(result: "QCResult", review: ReviewSummary, free_text: bool) -> "QCResult":
    """The QC result with the review's verdicts applied: corrections replace what was to be
    delivered (confidence 1: an expert reviewer decided it), rejected units are dropped
    (an item with nothing left is unresolved), and the acceptance check is added."""
    v = review.verdicts
    if not free_text:  # an item judged again after a rejection: its second review decides
        second = v["unit"].astype(str).str.endswith(REDONE)
        v = v.assign(_round=second.astype(int)).sort_values("_round", kind="stable") \
            .drop_duplicates("task", keep="last")
    out = result.outcome.copy()
    corrected = v[v["verdict"] == "correct"]
    rejected = v[v["verdict"] == "reject"]
    if free_text:
        unit = out["task"].astype(str) + "/" + out["worker"].astype(str)
        fix = dict(zip(corrected["unit"], corrected["correction_json"].map(  # (its one field)
            lambda j: next(iter(json.loads(j).values())))))
        out["value"] = [fix.get(u, x) for u, x in zip(unit, out["value"])]
        out = out[~unit.isin(set(rejected["unit"]))]
    else:
        for r in corrected.itertuples():
            answer = json.loads(r.correction_json)
            rows = out["task"].astype(str) == str(r.task)
            out.loc[rows, "label"] = out.loc[rows, "field"].map(answer).fillna(out.loc[rows, "label"])
            out.loc[rows, "confidence"] = 1.0
        out = out[~out["task"].astype(str).isin(set(rejected["task"].astype(str)))]
    gone = sorted(set(map(str, result.outcome["task"])) - set(map(str, out["task"])))
    return replace(result, outcome=out.reset_index(drop=True),
                   unresolved=sorted(set(result.unresolved) | set(gone)),
                   checks=[*result.checks, review.check()], review=review)
