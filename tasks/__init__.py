"""Prefect tasks: thin wrappers that call connectors and qc. Retries only on I/O tasks,
and only for failures a retry can fix (transport errors, not bad input).

One task per stage or batch, never per item.
"""
from __future__ import annotations

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

from annoflow.errors import AnnoflowError, ConnectorError


def _retryable(task_, task_run, state) -> bool:
    try:
        state.result()
    except ConnectorError:
        return True
    except AnnoflowError:
        return False  # bad input, timeouts, QC gates: retrying changes nothing
    except Exception:
        return True
    return False


#: a stage that talks to Label Studio or S3: retried on transport failures
io_task = partial(task, retries=2, retry_delay_seconds=3, cache_policy=NO_CACHE,
                  retry_condition_fn=_retryable)
#: a pure computation: never retried
compute_task = partial(task, cache_policy=NO_CACHE)
