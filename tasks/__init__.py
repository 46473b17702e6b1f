"""Prefect tasks: thin wrappers that call connectors and qc, one task per stage or batch,
never per item.

Prefect does not retry them: the one retry layer is in the connectors
(``connectors/retry.py``), which know what is safe to retry (transport failures only) and
how to retry a create without making it twice. A stage that fails is resumed by running the
campaign again: every stage finds what it already made.
"""
from __future__ import annotations

from functools import partial

from prefect import task
from prefect.cache_policies import NO_CACHE

#: a stage of the campaign flow (no Prefect retries, no result caching)
stage = partial(task, cache_policy=NO_CACHE)
