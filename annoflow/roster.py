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


def select_roster(ranked: pd.DataFrame, spec: RequestSpec) -> pd.DataFrame:
    return ranked.head(spec.workforce.max_experts).reset_index(drop=True)
