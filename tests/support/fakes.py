"""In-memory stand-ins for the services a tick's stages use (``tasks.services``), so that
the stages' own logic is unit-tested without Label Studio or S3. They keep the contract of
the real connectors (keyword arguments, None for a missing object, tasks filtered by
``updated_after``), nothing more; the integration tests use the real services."""
from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, BinaryIO, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from annoflow.errors import CampaignBusy
from connectors.label_studio import ExpertActivity, LSProject, LSTask, LSUser
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

    def ensure_bucket(self, *, bucket: str) -> None:
        self.buckets.add(bucket)

    def size(self, *, uri: str) -> int | None:
        data = self.objects.get(uri)
        return None if data is None else len(data)

    def download(self, *, uri: str, into: BinaryIO) -> bool:
        data = self.objects.get(uri)
        if data is None:
            return False
        into.write(data)
        return True


@dataclass
class FakeLabelStudio:
    """One campaign's project: its tasks and what annoflow told its access extension, and
    the experts' users (by login)."""
    tasks: dict[int, LSTask] = field(default_factory=dict)
    access: dict[str, Any] = field(default_factory=dict)
    reviewed: dict[int, int] = field(default_factory=dict)
    activity: dict[int, ExpertActivity] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    users: dict[str, LSUser] = field(default_factory=dict)
    projects: dict[int, tuple[LSProject, str]] = field(default_factory=dict)  # id -> (project, description)
    task_project: dict[int, int] = field(default_factory=dict)  # task id -> project id
    accesses: dict[int, dict[str, Any]] = field(default_factory=dict)  # project id -> access
    base_url: str = "http://label-studio.invalid"

    def ensure_expert(self, *, login: str, handle: str) -> LSUser:
        self.calls.append("ensure_expert")
        if login not in self.users:
            self.users[login] = LSUser(id=1000 + len(self.users), username=handle, email=login)
        return self.users[login]

    def get_project(self, *, project_id: int) -> LSProject | None:
        return self.projects[project_id][0] if project_id in self.projects else None

    def find_project_by_key(self, *, key: str) -> LSProject | None:
        return next((p for p, d in self.projects.values() if f"[annoflow {key}]" in d), None)

    def create_project(self, *, key: str, request_id: str, title: str, label_config: str,
                       overlap: int, description: str) -> LSProject:
        self.calls.append("create_project")
        pid = len(self.projects) + 1
        project = LSProject(id=pid, title=f"{request_id} · {title}", url=self.project_url(pid),
                            maximum_annotations=overlap)
        self.projects[pid] = (project, f"{description}\n[annoflow {key}]")
        return project

    def import_tasks(self, *, project_id: int, tasks: list[dict[str, Any]]) -> int:
        self.calls.append("import_tasks")
        overlap = self.projects[project_id][0].maximum_annotations
        for t in tasks:
            tid = len(self.tasks) + 1
            self.tasks[tid] = LSTask(id=tid, data=dict(t["data"]), meta=dict(t["meta"]),
                                     overlap=overlap, updated_at=datetime.now(timezone.utc),
                                     annotations=())
            self.task_project[tid] = project_id
        return len(tasks)

    def iter_tasks(self, *, project_id: int, updated_after: datetime | None = None,
                   with_annotations: bool = True) -> Iterator[LSTask]:
        self.calls.append("iter_tasks")
        for t in sorted(self.tasks.values(), key=lambda t: t.id):
            if self.task_project.get(t.id, project_id) != project_id:
                continue
            if updated_after is None or t.updated_at > updated_after:
                yield t if with_annotations else replace(t, annotations=())

    def set_access(self, *, project_id: int, members: list[int], probes: list[int] | None,
                   gold_rate: float, removed: Sequence[int] | None = None,
                   serving_ttl_s: float | None = None,
                   barred: dict[str, list[int]] | None = None,
                   twins: dict[int, int] | None = None) -> None:
        self.calls.append("set_access")
        self.access = {"members": sorted(members), "removed": sorted(removed or []),
                       **({"probes": sorted(probes)} if probes is not None else {}),
                       **({"barred": {t: sorted(u) for t, u in barred.items()}}
                          if barred is not None else {}),
                       **({"twins": dict(twins)} if twins else {})}
        self.accesses[project_id] = self.access

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
        return f"{self.base_url}/projects/{project_id}/data"


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
    def __call__(self, request_id: str, wait_s: float | None = None,
                 kind: str = "campaign") -> Iterator[None]:
        if self.busy:
            raise CampaignBusy(f"campaign {request_id!r} is being changed by another process")
        self.taken.append(request_id if kind == "campaign" else f"{kind}:{request_id}")
        yield


@dataclass
class Published:
    """The status artifacts a stage published."""
    items: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, *, key: str, markdown: str, description: str) -> None:
        self.items.append({"key": key, "markdown": markdown, "description": description})

    def table(self, *, key: str, table: list[dict[str, Any]], description: str) -> None:
        self.items.append({"key": key, "table": table, "description": description})
