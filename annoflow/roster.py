"""Sourcing logic: rank the talent pool for a request and pick the roster (pure)."""
from __future__ import annotations

import pandas as pd

from annoflow.errors import DataError
from annoflow.spec import RequestSpec


def rank_experts(pool: pd.DataFrame, spec: RequestSpec) -> pd.DataFrame:
    """Every expert eligible for the request, best first (the roster is the top
    ``max_experts`` of these).

    Hard constraints: the request's domain, every requested language, vetting score at
    least ``min_vetting_score``. Order: vetting score (desc), hourly rate (asc), id.
    """
    wf = spec.workforce
    langs = set(wf.languages)
    eligible = pool[
        pool["domains"].map(lambda d: spec.domain in d)
        & pool["languages"].map(lambda ls: langs <= set(ls))
        & (pool["vetting_score"] >= wf.min_vetting_score)
    ]
    if len(eligible) < wf.annotators_per_item:
        raise DataError(
            f"talent pool too thin: {len(eligible)} expert(s) match domain {spec.domain!r}, "
            f"languages {sorted(langs)} and vetting score >= {wf.min_vetting_score}, but each "
            f"item needs {wf.annotators_per_item} different experts "
            f"(workforce.annotators_per_item)")
    ranked = eligible.sort_values(["vetting_score", "hourly_rate_usd", "expert_id"],
                                  ascending=[False, True, True], kind="stable")
    ranked = ranked.reset_index(drop=True)
    ranked.insert(1, "rank", range(1, len(ranked) + 1))
    return ranked


def available(pool: pd.DataFrame, booked: dict[str, float]) -> pd.DataFrame:
    """The pool with each expert's weekly hours less what other active campaigns booked;
    experts with none left are out."""
    if not booked:
        return pool
    left = pool["weekly_hours"] - pool["expert_id"].map(booked).fillna(0.0)
    return pool.assign(weekly_hours=left)[left > 0].reset_index(drop=True)


def bookings(roster: pd.DataFrame, expert_hours: float) -> dict[str, float]:
    """Weekly hours to book per rostered expert: an equal share of the campaign's expert
    hours, at most the hours the expert has left in a week."""
    share = expert_hours / len(roster) if len(roster) else 0.0
    return {e: round(min(float(h), share), 3)
            for e, h in zip(roster["expert_id"], roster["weekly_hours"])}


def select_roster(ranked: pd.DataFrame, spec: RequestSpec) -> pd.DataFrame:
    return ranked.head(spec.workforce.max_experts).reset_index(drop=True)
