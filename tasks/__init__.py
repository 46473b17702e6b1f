"""Prefect tasks: thin wrappers that call connectors and qc, one task per stage or batch,
never per item.

Prefect does not retry them: the one retry layer is in the connectors
(``connectors/retry.py``), which know what is safe to retry (transport failures only) and
how to retry a create without making it twice. A stage that fails is resumed by running the
campaign again: every stage finds what it already made.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext


def stage(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A stage of the campaign flow: a Prefect task run (no retries, no result caching)
    inside a flow run, a plain call outside one (a command, a unit test): no task run is
    recorded without the flow run it belongs to. ``.fn`` is the function itself."""
    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        as_task = task(fn, name=name, cache_policy=NO_CACHE)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            return (as_task if FlowRunContext.get() is not None else fn)(*args, **kwargs)
        run.fn = fn  # type: ignore[attr-defined]
        return run
    return decorate
