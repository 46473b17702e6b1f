"""Sourcing logic on a ranked shortlist (pure): pick the roster, book its hours, say who
was picked and why. Ranking itself happens in the pool's store
(``connectors.pool_registry``); its rows carry each expert's score and named parts."""
from __future__ import annotations

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


def select_roster(ranked: pd.DataFrame, spec: RequestSpec) -> pd.DataFrame:
    """The best ``max_experts`` of the ranked shortlist."""
    return ranked.head(spec.workforce.max_experts).reset_index(drop=True)


def staffing(roster: pd.DataFrame) -> list[StaffedExpert]:
    return [StaffedExpert(expert_id=r["expert_id"], rank=int(r["rank"]),
                          score=round(float(r["score"]), 4),
                          parts={p: round(float(r[p]), 4) for p in PARTS})
            for r in roster.to_dict("records")]


def bookings(roster: pd.DataFrame, expert_hours: float) -> dict[str, float]:
    """Weekly hours to book per rostered expert: an equal share of the campaign's expert
    hours, at most the hours the expert has left in a week."""
    share = expert_hours / len(roster) if len(roster) else 0.0
    return {e: round(min(float(h), share), 3)
            for e, h in zip(roster["expert_id"], roster["weekly_hours"])}
