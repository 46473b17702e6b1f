"""Sourcing logic on a ranked shortlist (pure): pick the roster, book its hours, say who
was picked and why. Ranking itself happens in the pool's store
(``connectors.pool_registry``); its rows carry each expert's score and named parts."""
from __future__ import annotations

import math

import pandas as pd
from pydantic import BaseModel

from annoflow.pool import PARTS
from annoflow.spec import RequestSpec


class StaffedExpert(BaseModel):
    """One chosen expert, with the score that chose them and its named parts."""
    expert_id: str
    rank: int
    score: float
    parts: dict[str, float]


def shortlist_size(spec: RequestSpec) -> int:
    """How many of the best eligible experts scoping reads from the pool: the roster and
    enough beyond it to say what a bigger or cheaper roster would do."""
    return max(4 * spec.workforce.max_experts, 100)


#: the share of a qualification round expected to pass before the pool has a record of
#: the domain's rounds, and how many rounds that guess is worth
PASS_PRIOR, PASS_PRIOR_WEIGHT = 0.7, 10
#: a qualification never plans on fewer passing than this (a shortlist at most 1/0.2)
MIN_PASS_RATE = 0.2


def expected_pass_rate(passed: int, failed: int) -> float:
    """The share of candidates expected to pass a qualification round in a domain: the
    domain's record (``passed``, ``failed``) shrunk toward ``PASS_PRIOR``."""
    rate = (passed + PASS_PRIOR * PASS_PRIOR_WEIGHT) / (passed + failed + PASS_PRIOR_WEIGHT)
    return max(rate, MIN_PASS_RATE)


def candidates_for(missing: int, pass_rate: float) -> int:
    """How many candidates to shortlist for ``missing`` roster places, failures expected."""
    return math.ceil(missing / pass_rate) if missing > 0 else 0


def select_roster(ranked: pd.DataFrame, spec: RequestSpec) -> pd.DataFrame:
    """The best ``max_experts`` of the ranked shortlist."""
    return ranked.head(spec.workforce.max_experts).reset_index(drop=True)


def staffing(roster: pd.DataFrame) -> list[StaffedExpert]:
    return [StaffedExpert(expert_id=r["expert_id"], rank=int(r["rank"]),
                          score=round(float(r["score"]), 4),
                          parts={p: round(float(r[p]), 4) for p in PARTS})
            for r in roster.to_dict("records")]


def bookings(roster: pd.DataFrame, expert_hours: float,
             places: int | None = None) -> dict[str, float]:
    """Weekly hours to book per rostered expert: an equal share of the campaign's expert
    hours among ``places`` (by default: everyone on ``roster``; a qualification's
    candidates each hold a place's share), at most the hours the expert has left."""
    places = len(roster) if places is None else places
    share = expert_hours / places if places else 0.0
    return {e: round(min(float(h), share), 3)
            for e, h in zip(roster["expert_id"], roster["weekly_hours"])}
