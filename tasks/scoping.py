"""Stage 1, scope: validate the spec's data, pick the roster, estimate the campaign."""
from __future__ import annotations

import logging
from dataclasses import dataclass

import pandas as pd
from prefect.artifacts import create_markdown_artifact

from annoflow.errors import DataError
from annoflow.plan import CampaignPlan, build_plan
from annoflow.roster import rank_experts, select_roster
from annoflow.settings import Settings, get_settings
from annoflow.spec import RequestSpec
from connectors.datafiles import read_table
from connectors.s3 import S3Store
from connectors.talent_pool import load_talent_pool
from qc.inputs import PreparedItems, prepare_items
from tasks import io_task

log = logging.getLogger("annoflow.scope")
MAX_PROBLEMS_SHOWN = 10


@dataclass(frozen=True)
class Scope:
    spec: RequestSpec
    prepared: PreparedItems
    roster: pd.DataFrame   # ranked experts picked for the campaign (with contact details)
    plan: CampaignPlan

    @property
    def items(self) -> pd.DataFrame:
        return self.prepared.items


def scope(spec: RequestSpec, settings: Settings | None = None) -> Scope:
    """Read and check the data and the talent pool; build the plan. Raises DataError
    (naming file, row and field) when the request cannot start."""
    settings = settings or get_settings()
    needs_s3 = any(u.startswith("s3://") for u in (spec.source.uri, spec.gold.uri,
                                                     spec.workforce.talent_pool or settings.talent_pool_uri))
    store = S3Store(settings) if needs_s3 else None
    source = read_table(spec.source.uri, store=store)
    gold = read_table(spec.gold.uri, store=store)
    prepared = prepare_items(spec, source, gold)
    if len(prepared.problems):
        shown = prepared.problems.head(MAX_PROBLEMS_SHOWN)
        lines = [f"  {r.file}: row {r.row}, field {r.field}: {r.problem}" for r in shown.itertuples()]
        more = len(prepared.problems) - len(shown)
        raise DataError(f"{len(prepared.problems)} problem(s) in the request's data; nothing was "
                        f"created:\n" + "\n".join(lines) + (f"\n  … and {more} more" if more else ""))
    if prepared.n_items == 0:
        raise DataError(f"{spec.source.uri}: no items to annotate")
    pool = load_talent_pool(spec.workforce.talent_pool or settings.talent_pool_uri, store=store)
    ranked = rank_experts(pool, spec)
    roster = select_roster(ranked, spec)
    plan = build_plan(spec, n_items=prepared.n_items, n_gold=prepared.n_gold, roster=roster,
                      eligible=len(ranked), quarantined=len(prepared.problems))
    return Scope(spec=spec, prepared=prepared, roster=roster, plan=plan)


@io_task(name="scope")
def scope_campaign(spec: RequestSpec) -> Scope:
    """Validate the request's data, pick the roster and publish the plan."""
    result = scope(spec)
    create_markdown_artifact(key=f"{spec.request_id}-plan", markdown=result.plan.to_markdown(),
                             description=f"Campaign plan for {spec.request_id}")
    log.info("scoped: %d items + %d hidden gold, %d judgments, roster of %d experts",
             result.plan.items, result.plan.gold_items, result.plan.judgments,
             result.plan.roster_size)
    for w in result.plan.warnings:
        log.warning("plan warning: %s", w)
    return result
