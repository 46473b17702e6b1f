"""Sourcing logic: rank the talent pool for a request and pick the roster (pure)."""
from __future__ import annotations

import pandas as pd

from annoflow.errors import DataError
from annoflow.spec import RequestSpec


def rank_experts(pool: pd.DataFrame, spec: RequestSpec) -> pd.DataFrame:
    """Experts eligible for the request, best first, capped at ``max_experts``.

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
    roster = ranked.head(wf.max_experts).reset_index(drop=True)
    roster.insert(1, "rank", range(1, len(roster) + 1))
    return roster
