"""In-memory stand-ins for the services a tick's stages use (``tasks.services``), so that
the stages' own logic is unit-tested without Label Studio or S3. They keep the contract of
the real connectors (keyword arguments, None for a missing object, tasks filtered by
``updated_after``), nothing more; the integration tests use the real services."""
from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from annoflow.errors import CampaignBusy
from connectors.label_studio import ExpertActivity, LSTask
from connectors.s3 import ObjectExists, parquet_bytes


class MemoryStore:
    """S3 as a dict of URIs to bytes."""

    def __init__(self, buckets: set[str] | None = None) -> None:
        self.objects: dict[str, bytes] = {}
        self.buckets = set(buckets or ())

    def bucket_exists(self, *, bucket: str) -> bool:
        return bucket in self.buckets

    def get_bytes(self, *, uri: str) -> bytes | None:
        return self.objects.get(uri)

    def put_bytes(self, *, uri: str, data: bytes, if_none_match: bool = False,
                  content_type: str = "application/octet-stream") -> None:
        if if_none_match and uri in self.objects:
            raise ObjectExists(f"{uri} already exists and is never overwritten")
        self.objects[uri] = bytes(data)

    def get_parquet(self, *, uri: str) -> pa.Table | None:
        data = self.objects.get(uri)
        return None if data is None else pq.read_table(io.BytesIO(data))

    def put_parquet(self, *, uri: str, table: pa.Table) -> None:
        self.objects[uri] = parquet_bytes(table)

    def exists(self, *, uri: str) -> bool:
        return uri in self.objects

    def list_uris(self, *, prefix_uri: str) -> list[str]:
        return sorted(u for u in self.objects if u.startswith(prefix_uri))


@dataclass
class FakeLabelStudio:
    """One project's tasks and what annoflow told its access extension."""
    tasks: dict[int, LSTask] = field(default_factory=dict)
    access: dict[str, Any] = field(default_factory=dict)
    reviewed: dict[int, int] = field(default_factory=dict)
    activity: dict[int, ExpertActivity] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def iter_tasks(self, *, project_id: int, updated_after: datetime | None = None,
                   with_annotations: bool = True) -> Iterator[LSTask]:
        self.calls.append("iter_tasks")
        for t in sorted(self.tasks.values(), key=lambda t: t.id):
            if updated_after is None or t.updated_at > updated_after:
                yield t if with_annotations else replace(t, annotations=())

    def set_access(self, *, project_id: int, members: list[int], probes: list[int] | None,
                   gold_rate: float, removed: Sequence[int] | None = None,
                   serving_ttl_s: float | None = None) -> None:
        self.calls.append("set_access")
        self.access = {"members": sorted(members), "removed": sorted(removed or [])}

    def set_review(self, *, project_id: int, window: int, reviewed: dict[int, int]) -> None:
        self.calls.append("set_review")
        self.reviewed = {u: max(n, self.reviewed.get(u, 0)) for u, n in reviewed.items()}

    def set_overlaps(self, *, project_id: int, overlaps: dict[int, int]) -> None:
        self.calls.append("set_overlaps")
        for tid, n in overlaps.items():
            self.tasks[tid] = replace(self.tasks[tid], overlap=n)

    def expert_activity(self, *, project_id: int) -> dict[int, ExpertActivity]:
        return dict(self.activity)

    def project_url(self, project_id: int) -> str:
        return f"http://label-studio.invalid/projects/{project_id}/data"


@dataclass
class Schedules:
    """The campaigns whose schedules a stage switched off."""
    stopped: list[str] = field(default_factory=list)

    def __call__(self, request_id: str) -> None:
        self.stopped.append(request_id)


@dataclass
class Lock:
    """The campaign's lock, held by this process only (``busy``: held by another)."""
    busy: bool = False
    taken: list[str] = field(default_factory=list)

    @contextmanager
    def __call__(self, request_id: str, wait_s: float) -> Iterator[None]:
        if self.busy:
            raise CampaignBusy(f"campaign {request_id!r} is being changed by another process")
        self.taken.append(request_id)
        yield


@dataclass
class Published:
    """The status artifacts a stage published."""
    items: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, *, key: str, markdown: str, description: str) -> None:
        self.items.append({"key": key, "markdown": markdown, "description": description})
