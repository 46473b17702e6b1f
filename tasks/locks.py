"""One campaign, one writer: a Prefect global concurrency limit of one slot per campaign.

Every tick and every command that changes a campaign holds it from start to end, so two
at once cannot make two projects, sync twice or write into one delivery version. The slot
is a lease that the holder renews while it runs; a holder that dies stops renewing, and the
slot is freed when the lease runs out. A tick that finds the lock taken does nothing (the
next tick comes soon); a delivery manager's command waits for a running tick to end
(seconds; or a service's retry budget, when a tick is retrying a service that is away), and
stops with CampaignBusy if the lock stays taken longer.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from annoflow.errors import CampaignBusy

#: how long a dead holder keeps the campaign (the lease; renewed while the holder lives)
LEASE_S = 60
#: how long a tick waits for the lock (the next tick will try again)
TICK_WAIT_S = 3


def command_wait_s() -> float:
    """How long a delivery manager's command waits for the lock: a tick holds it for
    seconds, or for a service's whole retry budget when one is away (`pause` must get
    through then too)."""
    from annoflow.settings import get_settings
    return get_settings().retry_budget_s + 30.0


def lock_name(request_id: str, kind: str = "campaign") -> str:
    return f"annoflow-{kind}:{request_id}"


def _ensure_limit(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:
                pass


@contextmanager
def campaign_lock(request_id: str, kind: str = "campaign",
                  wait_s: float | None = None) -> Iterator[None]:
    """Hold the campaign's lock (or another of its locks: ``kind``) for the block;
    CampaignBusy if another process holds it for longer than ``wait_s`` (by default, what
    a command waits: ``command_wait_s()``)."""
    name = lock_name(request_id, kind)
    wait_s = command_wait_s() if wait_s is None else wait_s
    _ensure_limit(name)
    try:
        ctx = concurrency(name, occupy=1, timeout_seconds=wait_s, lease_duration=LEASE_S,
                          strict=True)
        ctx.__enter__()
    except TimeoutError:
        raise CampaignBusy(
            f"campaign {request_id!r} is being changed by another process right now (a tick "
            f"or a command holds its lock, Prefect concurrency limit {name!r}). Nothing was "
            f"done; try again later. `annoflow status {request_id}` shows where it "
            f"stands; if the holder died, the lock is freed within {LEASE_S} s.") from None
    try:
        yield
    finally:
        ctx.__exit__(None, None, None)
