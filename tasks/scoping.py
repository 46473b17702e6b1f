"""Stage 1, scope: validate the spec's data, pick the roster, estimate the campaign."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from annoflow.errors import DataError, SettingsError
from annoflow.plan import CampaignPlan, QualificationPlan, build_plan
from annoflow.roster import (candidates_for, expected_pass_rate, select_roster, shortlist_size,
                             staffing)
from annoflow.settings import Settings, get_settings
from annoflow.spec import RequestSpec
from connectors.datafiles import read_table
from annoflow.uris import split_uri
from connectors.s3 import S3Store
from connectors.state import StateStore
from connectors.pool_registry import MatchRequest, PoolRegistry
from annoflow.items import PreparedItems, prepare_items, prepare_qualification
from tasks import stage
from tasks.delivery import check_client_bucket
from tasks.services import ObjectStore, Services

log = logging.getLogger("annoflow.scope")
MAX_PROBLEMS_SHOWN = 10


def format_problems(problems: pd.DataFrame, limit: int = MAX_PROBLEMS_SHOWN) -> str:
    shown = problems.head(limit)
    lines = [f"  {r.file}: row {r.row}, field {r.field}: {r.problem}" for r in shown.itertuples()]
    more = len(problems) - len(shown)
    return "\n".join(lines) + (f"\n  … and {more} more" if more else "")


@dataclass(frozen=True)
class Scope:
    spec: RequestSpec
    prepared: PreparedItems
    roster: pd.DataFrame   # ranked experts picked for the campaign (with contact details)
    plan: CampaignPlan
    #: with a qualification round: its items, and the candidates shortlisted for it (the
    #: roster is then whoever of them passes)
    qualification: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None

    @property
    def items(self) -> pd.DataFrame:
        return self.prepared.items


def scope(spec: RequestSpec, settings: Settings | None = None, *,
          store: ObjectStore | None = None, state: StateStore | None = None) -> Scope:
    """Read and check the data and the talent pool; build the plan. Raises DataError
    (naming file, row and field) when the request cannot start. ``store``, ``state``: the
    clients to use (by default made from the settings: S3 only if a file is on it)."""
    settings = settings or get_settings()
    settings.check_delivery_target(spec.client, spec.delivery.uri)
    q = spec.workforce.qualification
    uris = [spec.source.uri] + ([spec.gold.uri] if spec.gold else []) + ([q.uri] if q else [])
    if store is None and any(u.startswith("s3://") for u in uris):
        store = S3Store(settings)
    source = read_table(spec.source.uri, store=store)
    gold = read_table(spec.gold.uri, store=store) if spec.gold else None
    prepared = prepare_items(spec, source, gold, ref_key=settings.derived_key("task-ref"))
    if prepared.bad_share > spec.source.max_bad_share:
        raise DataError(
            f"{len(prepared.problems)} problem(s) in the request's data "
            f"({prepared.bad_share:.1%} of rows bad, source.max_bad_share allows "
            f"{spec.source.max_bad_share:.1%}); nothing was created:\n"
            + format_problems(prepared.problems))
    if prepared.n_items == 0:
        raise DataError(f"{spec.source.uri}: no items to annotate")
    qualification = None
    if q is not None:
        qualification, problems = prepare_qualification(
            spec, read_table(q.uri, store=store), gold=gold, ref_key=settings.derived_key("task-ref"))
        if len(problems):
            raise DataError(f"the qualification set cannot be used; nothing was created:\n"
                            + format_problems(problems))
    state = state or StateStore(settings.state_url)
    ranked, eligible = rank_pool(spec, state)
    roster = select_roster(ranked, spec)
    plan = build_plan(spec, n_items=prepared.n_items, n_gold=prepared.n_gold, roster=roster,
                      eligible=eligible, quarantined=prepared.bad_rows, shortlist=ranked)
    if plan.infeasible:
        raise DataError(f"{spec.request_id} cannot be done as asked; nothing was created:\n"
                        + "\n".join(f"  {w}" for w in plan.infeasible))
    candidates = None
    if q is not None:
        rate = expected_pass_rate(*PoolRegistry(state).qualification_record(spec.domain))
        candidates = ranked.head(candidates_for(spec.workforce.max_experts, rate))
        plan = plan.model_copy(update={"staffing": staffing(candidates), "qualification":
                                       QualificationPlan(items=q.items, pass_mark=q.pass_mark,
                                                         expected_pass_rate=round(rate, 4),
                                                         candidates=len(candidates))})
    return Scope(spec=spec, prepared=prepared, roster=roster, plan=plan,
                 qualification=qualification, candidates=candidates)


def match_request(spec: RequestSpec) -> MatchRequest:
    wf = spec.workforce
    return MatchRequest(domain=spec.domain, languages=tuple(wf.languages), client=spec.client,
                        min_vetting_score=wf.min_vetting_score,
                        subspecialties=tuple(wf.subspecialties), weights=wf.weights,
                        request_id=spec.request_id)


def rank_pool(spec: RequestSpec, state: StateStore, *, exclude: Sequence[str] = (),
              limit: int | None = None, need: int | None = None,
              skills: Sequence[str] = ()) -> tuple[pd.DataFrame, int]:
    """The best eligible experts for the request (not ``exclude``; with ``skills``), and
    how many are eligible; DataError, with what would widen it, when fewer than ``need``
    are (by default: the experts one item needs)."""
    registry = PoolRegistry(state)
    req = replace(match_request(spec), skills=tuple(skills))
    ranked, eligible = registry.rank(req, limit=(limit or shortlist_size(spec)) + len(exclude))
    ranked = ranked[~ranked["expert_id"].isin(list(exclude))].reset_index(drop=True)
    ranked["rank"] = range(1, len(ranked) + 1)
    k = spec.workforce.annotators_per_item
    need = k if need is None else need
    if len(ranked) < need:
        if registry.size() == 0:
            raise DataError(f"the talent pool in {state.where} is empty: import experts with "
                            f"`annoflow pool import FILE` (the demo's: data/talent_pool.csv)")
        wider = [f"min_vetting_score {lower}: {n} eligible" for lower in (0.5, 0.0)
                 if lower < req.min_vetting_score
                 and (n := registry.rank(replace(req, min_vetting_score=lower), limit=1)[1]) > eligible]
        raise DataError(
            f"talent pool too thin: {eligible} expert(s) match domain {spec.domain!r}, "
            + (f"skills {sorted(skills)}, " if skills else "")
            + f"languages {sorted(req.languages)}, vetting score >= {req.min_vetting_score}, "
            f"weekly hours left and no ban or exclusion by {spec.client}"
            + (f" ({len(exclude)} of them on the roster already)" if exclude else "")
            + f", but {need} are needed" + (f" (each item needs {k} different experts: "
                                             f"workforce.annotators_per_item)" if need == k else "")
            + ". What would fix it: "
            + "; or ".join([*wider, "more experts in the pool (`annoflow pool import`)"]))
    return ranked, eligible


def _as_current_spec(spec_json: str) -> str:
    """A recorded spec as the current spec model writes it (unreadable: as it is)."""
    try:
        return RequestSpec.model_validate_json(spec_json).model_dump_json()
    except ValueError:
        return spec_json


@stage(name="scope")
def scope_campaign(spec: RequestSpec, spec_change: str | None = None,
                   svc: Services | None = None) -> Scope:
    """Validate the request's data, tie the request id to its client and spec (a reused id,
    or an edited spec without ``spec_change``, is refused), pick the roster and publish the
    plan. Bad input is refused before anything is recorded."""
    svc = svc or Services.connect()
    settings, store, state = svc.settings, svc.store, svc.state
    result = scope(spec, settings, store=store, state=state)
    raw = svc.raw(spec.request_id)
    check_client_bucket(settings, store, spec)  # before anything is recorded
    if state.campaign(spec.request_id) is None and store.exists(uri=raw.spec):
        raise SettingsError(
            f"the raw zone {raw.base}/ already holds a campaign {spec.request_id!r}, but "
            f"annoflow's state store ({state.where}) has no record of it. This state is not the "
            f"one that campaign ran with (another checkout sharing these services, or a lost "
            f"state file): point ANNOFLOW_STATE_URL at the campaign's state store, or give "
            f"this request a request_id of its own. Nothing was changed.")
    state.bind_campaign(
        request_id=spec.request_id, client=spec.client, spec_json=spec.model_dump_json(),
        change_reason=spec_change, normalize=_as_current_spec)
    if spec_change:
        log.warning("spec change of %s recorded: %s", spec.request_id, spec_change)
    if len(result.prepared.problems):
        store.ensure_bucket(bucket=split_uri(raw.base)[0])
        store.put_bytes(uri=raw.quarantine, data=result.prepared.problems.to_csv(index=False).encode(),
                        content_type="text/csv")
        log.warning("%d bad row(s) quarantined (report: %s):\n%s", len(result.prepared.problems),
                    raw.quarantine, format_problems(result.prepared.problems))
    svc.publish(key=f"{spec.request_id}-plan", markdown=result.plan.to_markdown(),
                description=f"Campaign plan for {spec.request_id}")
    svc.publish_table(key=f"{spec.request_id}-staffing", description=(
        f"Staffing of {spec.request_id}: each chosen expert, their score and its parts"),
        table=[{"rank": s.rank, "expert_id": s.expert_id, "score": s.score, **s.parts}
               for s in result.plan.staffing])
    log.info("scoped: %d items + %d hidden gold, %d judgments, roster of %d experts",
             result.plan.items, result.plan.gold_items, result.plan.judgments,
             result.plan.roster_size)
    for w in result.plan.warnings:
        log.warning("plan warning: %s", w)
    return result
