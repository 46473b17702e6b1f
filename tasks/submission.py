"""Submitting a campaign: scope it, fix its roster once, and record what its ticks read
back (the spec and the items in the raw zone, the roster and its bookings in the state
store). Runs in the `annoflow run` process, under the campaign's lock."""
from __future__ import annotations

import json
import logging

import pyarrow as pa

from annoflow.errors import AnnoflowError
from annoflow.roster import bookings
from annoflow.spec import RequestSpec
from annoflow.uris import split_uri
from tasks.scoping import Scope, scope_campaign
from tasks.services import Services
from tasks.sourcing import write_roster

log = logging.getLogger("annoflow.submit")


def submit_campaign(spec: RequestSpec, spec_change: str | None = None,
                    svc: Services | None = None) -> Scope:
    """Scope the campaign and record it for its ticks. The roster is chosen the first
    time only, with the weekly hours other campaigns left, and booked under the pool's
    lock; later submissions keep it as recorded."""
    svc = svc or Services.connect()
    camp = svc.state.campaign(spec.request_id)
    if camp is not None and camp.stage == "cancelled":
        raise AnnoflowError(f"campaign {spec.request_id!r} was cancelled ({camp.stage_reason}); "
                            f"a cancelled campaign does not start again: give a new request a "
                            f"request_id of its own")
    # the pool's weekly hours are read and booked under one lock for every campaign: two
    # campaigns submitted at once cannot both book the same hours
    with svc.lock("pool", kind="bookings"):
        scoped = scope_campaign(spec, spec_change, svc)
        if spec.qc.review is not None and not svc.state.roster(spec.request_id):
            _check_reviewers(spec, scoped, svc)
        _record(spec, scoped, svc)
    return scoped


def _check_reviewers(spec: RequestSpec, scoped: Scope, svc: Services) -> None:
    """With ``qc.review``: at least one expert of the pool can review, besides the
    campaign's annotators (they are booked when production starts; DataError, naming
    what would fix it, before anything is recorded)."""
    from tasks.review import reviewer_shortlist
    people = scoped.candidates if scoped.candidates is not None else scoped.roster
    reviewer_shortlist(spec, svc.state, exclude=list(people["expert_id"]), n=1)


def _record(spec: RequestSpec, scoped: Scope, svc: Services) -> None:
    """The spec, plan and items in the raw zone; the roster and its bookings, once."""
    store, state, raw = svc.store, svc.state, svc.raw(spec.request_id)
    store.ensure_bucket(bucket=split_uri(raw.base)[0])
    store.put_bytes(uri=raw.spec, data=spec.model_dump_json(indent=2).encode(),
                    content_type="application/json")
    store.put_bytes(uri=raw.plan, data=scoped.plan.model_dump_json(indent=2).encode(),
                    content_type="application/json")
    store.put_parquet(uri=raw.items, table=pa.Table.from_pandas(scoped.items, preserve_index=False))
    if scoped.qualification is not None:
        store.put_parquet(uri=raw.qualification, table=pa.Table.from_pandas(
            scoped.qualification, preserve_index=False))
    if not state.roster(spec.request_id) and scoped.candidates is not None:
        # a qualification round first: each candidate holds a place's hours while in it
        booked = bookings(scoped.candidates, scoped.plan.expert_hours,
                          places=spec.workforce.max_experts)
        state.set_roster(request_id=spec.request_id, expert_ids=list(scoped.candidates["expert_id"]),
                         booked_hours=booked, actor="cli", status="qualifying")
        write_roster(store, raw, scoped.candidates)
        log.info("%d candidates shortlisted for the qualification round, %.1f h/week held",
                 len(booked), sum(booked.values()))
    elif not state.roster(spec.request_id):
        booked = bookings(scoped.roster, scoped.plan.expert_hours)
        state.set_roster(request_id=spec.request_id, expert_ids=list(scoped.roster["expert_id"]),
                         booked_hours=booked, actor="cli")
        write_roster(store, raw, scoped.roster)
        log.info("roster of %d experts recorded, %.1f h/week booked", len(booked),
                 sum(booked.values()))
    progress = store.get_bytes(uri=raw.progress)
    if progress is not None:  # typed again: the next tick reconciles in full
        store.put_bytes(uri=raw.progress, content_type="application/json",
                        data=json.dumps({**json.loads(progress), "reconciliation": {}}).encode())
    if state.campaign(spec.request_id).stage == "scoped":
        state.set_stage(request_id=spec.request_id, stage="submitted", actor="cli")
