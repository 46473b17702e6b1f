"""The one retry layer. Connectors retry here and nowhere else: not the SDKs (built with
no retries of their own), not boto (one attempt), not Prefect tasks.

* Only transport failures are retried (the connector says which errors are transient):
  never a bug, never a 4xx refusal.
* Every attempt of one call, and every call nested in it, shares one deadline: the retry
  budget (``ANNOFLOW_RETRY_BUDGET_S``). Past it, the connector's error names the service.
* A create is retried only after ``recover`` has looked for what the lost attempt may have
  made (by the key it was created with), so a timeout whose request did reach the server
  never creates twice.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import TypeVar

from annoflow.errors import ConnectorError

T = TypeVar("T")
log = logging.getLogger("annoflow.retry")
_deadline: ContextVar[float | None] = ContextVar("annoflow_retry_deadline", default=None)

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 8.0


def unreachable(service: str, address: str, what: str, setting: str
                ) -> Callable[[BaseException, float], Exception]:
    """The error once the budget is spent: it names the service, where it was looked for,
    what was being done, and what to do."""
    def give_up(err: BaseException, waited: float) -> Exception:
        return ConnectorError(
            f"{service} at {address} is unreachable while trying to {what} "
            f"({type(err).__name__}; retried for {waited:.0f} s, the retry budget "
            f"ANNOFLOW_RETRY_BUDGET_S). Is it running? `make services` starts the local one; "
            f"{setting} points elsewhere. Rerun the command once it is back: nothing is lost.")
    return give_up


def with_retries(fn: Callable[[], T], *, what: str, budget_s: float,
                 transient: Callable[[BaseException], bool],
                 give_up: Callable[[BaseException, float], Exception],
                 recover: Callable[[], T | None] | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """``fn()``, retried on transient errors until the shared deadline.

    ``recover`` runs before each retry; a result other than None is taken as what the lost
    attempt did, and returned instead of retrying. ``give_up(err, waited_s)`` makes the
    error raised once the budget is spent."""
    started = time.monotonic()
    outer = _deadline.get()
    deadline = started + budget_s if outer is None else min(outer, started + budget_s)
    token = _deadline.set(deadline)
    try:
        delay = FIRST_DELAY_S
        step: Callable[[], T | None] = fn
        while True:
            try:
                result = step()
                if step is fn or result is not None:
                    return result  # type: ignore[return-value]
                step = fn  # recover found nothing: try again
                continue
            except Exception as err:
                if not transient(err):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise give_up(err, time.monotonic() - started) from None
                wait = min(delay, left, MAX_DELAY_S)
                log.warning("%s failed (%s); retrying in %.1f s (%.0f s of the retry budget "
                            "left)", what, type(err).__name__, wait, left)
                sleep(wait)
                delay *= 2
                step = recover if recover is not None else fn
    finally:
        _deadline.reset(token)
