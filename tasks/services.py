"""The clients a stage uses, built once (per tick, per command) and passed in.

Stages name what they need of each service as a Protocol: the real connectors satisfy
them, and so do the in-memory fakes of ``tests/support/fakes.py``, on which the tick's
stages have unit tests that need no service (integration tests use the real ones).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, Protocol, Sequence

import pyarrow as pa

from annoflow.layout import RawZone
from annoflow.settings import Settings, get_settings
from connectors.label_studio import ExpertActivity, LabelStudioClient, LSProject, LSTask, LSUser
from connectors.s3 import S3Store
from connectors.state import StateStore


class ObjectStore(Protocol):
    """The raw zone and the deliveries (S3)."""
    def get_bytes(self, *, uri: str) -> bytes | None: ...
    def put_bytes(self, *, uri: str, data: bytes, if_none_match: bool = False,
                  content_type: str = ...) -> Any: ...
    def get_parquet(self, *, uri: str) -> pa.Table | None: ...
    def put_parquet(self, *, uri: str, table: pa.Table) -> Any: ...
    def exists(self, *, uri: str) -> bool: ...
    def list_uris(self, *, prefix_uri: str) -> list[str]: ...
    def bucket_exists(self, *, bucket: str) -> bool: ...
    def ensure_bucket(self, *, bucket: str) -> None: ...
    def size(self, *, uri: str) -> int | None: ...
    def download(self, *, uri: str, into: BinaryIO) -> bool: ...


class CampaignLabelStudio(Protocol):
    """What the stages ask of Label Studio: the experts' users and the campaign's project
    (made by the first tick), then its tasks, access, review and overlaps."""
    base_url: str

    def ensure_expert(self, *, login: str, handle: str) -> LSUser: ...
    def get_project(self, *, project_id: int) -> LSProject | None: ...
    def find_project_by_key(self, *, key: str) -> LSProject | None: ...
    def create_project(self, *, key: str, request_id: str, title: str, label_config: str,
                       overlap: int, description: str) -> LSProject: ...
    def import_tasks(self, *, project_id: int, tasks: list[dict[str, Any]]) -> int: ...
    def iter_tasks(self, *, project_id: int, updated_after: datetime | None = None,
                   with_annotations: bool = True) -> Iterator[LSTask]: ...
    def set_access(self, *, project_id: int, members: list[int], probes: list[int] | None,
                   gold_rate: float, removed: Sequence[int] | None = None,
                   serving_ttl_s: float | None = None) -> None: ...
    def set_review(self, *, project_id: int, window: int, reviewed: dict[int, int]) -> None: ...
    def set_overlaps(self, *, project_id: int, overlaps: dict[int, int]) -> None: ...
    def expert_activity(self, *, project_id: int) -> dict[int, ExpertActivity]: ...
    def project_url(self, project_id: int) -> str: ...


class Publisher(Protocol):
    """Where a campaign's status is shown besides `annoflow status` (Prefect artifacts)."""
    def __call__(self, *, key: str, markdown: str, description: str) -> Any: ...


class TablePublisher(Protocol):
    """Where a table is shown besides the CLI (Prefect table artifacts)."""
    def __call__(self, *, key: str, table: list[dict[str, Any]], description: str) -> Any: ...


class Locker(Protocol):
    """The campaign's lock, or another of its locks (``kind``): one writer at a time
    (``tasks.locks``; ``wait_s`` None: what a command waits)."""
    def __call__(self, request_id: str, wait_s: float | None = None,
                 kind: str = "campaign") -> AbstractContextManager[None]: ...


class ScheduleSwitch(Protocol):
    """Switches off a campaign's scheduled ticks (its runs stop)."""
    def __call__(self, request_id: str) -> None: ...


def prefect_artifact(*, key: str, markdown: str, description: str) -> Any:
    from prefect.artifacts import create_markdown_artifact
    return create_markdown_artifact(key=key, markdown=markdown, description=description)


def prefect_table_artifact(*, key: str, table: list[dict[str, Any]], description: str) -> Any:
    from prefect.artifacts import create_table_artifact
    return create_table_artifact(key=key, table=table, description=description)


def prefect_lock(request_id: str, wait_s: float | None = None,
                 kind: str = "campaign") -> AbstractContextManager[None]:
    from tasks.locks import campaign_lock
    return campaign_lock(request_id, kind=kind, wait_s=wait_s)


def prefect_stop_schedules(request_id: str) -> None:
    from tasks.stages import stop_schedules
    stop_schedules(request_id)


@dataclass(frozen=True)
class Services:
    settings: Settings
    ls: CampaignLabelStudio
    store: ObjectStore
    state: StateStore
    publish: Publisher = prefect_artifact
    publish_table: TablePublisher = prefect_table_artifact
    lock: Locker = prefect_lock
    stop_schedules: ScheduleSwitch = prefect_stop_schedules

    @classmethod
    def connect(cls, settings: Settings | None = None) -> "Services":
        """The real clients, from the settings."""
        settings = settings or get_settings()
        return cls(settings=settings, ls=LabelStudioClient(settings), store=S3Store(settings),
                   state=StateStore(settings.state_url))

    def raw(self, request_id: str) -> RawZone:
        return RawZone(self.settings.raw_zone_uri, request_id)
