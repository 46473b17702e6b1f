"""Label Studio: the system of record for human work.

A thin typed client over label-studio-sdk 2.x. Methods are keyword-only, return frozen
dataclasses, retry transport errors and translate SDK errors into ``ConnectorError``.
Campaign objects are keyed so a rerun finds them instead of duplicating them: projects
and expert users by the ids annoflow's state store recorded when it made them (a project
also carries a secret key in its description), tasks by the ``ref`` in their ``meta``.
Experts are managed through annoflow's access extension in the server (``extensions/``).
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx
from label_studio_sdk import LabelStudio
from label_studio_sdk.core.api_error import ApiError

from annoflow.errors import ConnectorError
from annoflow.settings import Settings
from annoflow.failpoints import failpoint
from connectors.retry import unreachable, with_retries

T = TypeVar("T")
TITLE_SEP = " · "
LS_TITLE_MAX = 50
IMPORT_BATCH = 1000
PAGE_SIZE = 500


@dataclass(frozen=True)
class LSUser:
    id: int
    username: str
    email: str


@dataclass(frozen=True)
class LSProject:
    id: int
    title: str
    url: str
    maximum_annotations: int


@dataclass(frozen=True)
class LSProgress:
    tasks: int
    finished_tasks: int
    annotations: int


@dataclass(frozen=True)
class LSAnnotation:
    id: int
    completed_by: int
    result: list[dict[str, Any]]
    lead_time: float | None
    was_cancelled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class LSTask:
    id: int
    data: dict[str, Any]
    meta: dict[str, Any]
    overlap: int
    updated_at: datetime
    annotations: tuple[LSAnnotation, ...] = field(default=())


@dataclass(frozen=True)
class ExpertActivity:
    user_id: int
    open_task: int | None        # the task the expert was served and has not submitted
    open_since: datetime | None  # when it was served (the server's clock)
    last_active: datetime | None  # the latest serving or submission
    submitted: int


def _dt(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def ls_time(value: datetime) -> str:
    """The only datetime format Label Studio's data-manager filter accepts (else 500)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: a proxy or the server restarting: the request may not have been handled; retried
GATEWAY_ERRORS = (502, 503, 504)


class Unavailable(Exception):
    """The server answered that it cannot serve now (a gateway error)."""


def _transient(err: BaseException) -> bool:
    return isinstance(err, (httpx.TransportError, Unavailable)) or (
        isinstance(err, ApiError) and err.status_code in GATEWAY_ERRORS)


class LabelStudioClient:
    """Typed access to one Label Studio server."""

    def __init__(self, settings: Settings) -> None:
        self.base_url = settings.label_studio_url.rstrip("/")
        self._budget_s = settings.retry_budget_s
        self._sdk = LabelStudio(base_url=self.base_url,
                                api_key=settings.label_studio_token.get_secret_value(),
                                timeout=settings.http_timeout_s, max_retries=0)

    # -- plumbing ---------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T], *,
              recover: Callable[[], T | None] | None = None, budget_s: float | None = None) -> T:
        """``fn()`` through the one retry layer (``connectors.retry``); SDK errors become
        ConnectorError. A create passes ``recover``: what finds it made by its key; a
        create with no key is not retried (``budget_s=0``)."""
        try:
            return with_retries(fn, what=f"Label Studio: {what}",
                                budget_s=self._budget_s if budget_s is None else budget_s,
                                transient=_transient, recover=recover, give_up=unreachable(
                                    "Label Studio", self.base_url, what,
                                    "ANNOFLOW_LABEL_STUDIO_URL"))
        except ApiError as err:
            if err.status_code == 401:
                raise ConnectorError(
                    f"Label Studio at {self.base_url} rejected the API token while trying to "
                    f"{what} (401). Set ANNOFLOW_LABEL_STUDIO_TOKEN to a valid token.") from None
            body = json.dumps(err.body)[:500] if err.body is not None else ""
            raise ConnectorError(f"Label Studio refused to {what}: HTTP {err.status_code} "
                                 f"{body}") from None

    def project_url(self, project_id: int) -> str:
        return f"{self.base_url}/projects/{project_id}/data"

    def _http(self, method: str, path: str, *, what: str, json_body: Any = None) -> Any:
        """A call to annoflow's access extension in the server (``/api/annoflow/…``); its
        writes are idempotent (a retried create finds what the first attempt made)."""
        client = self._sdk._client_wrapper.httpx_client

        def call() -> httpx.Response:
            resp = client.request(path, method=method, json=json_body)
            if resp.status_code in GATEWAY_ERRORS:
                raise Unavailable(f"HTTP {resp.status_code}")
            return resp
        resp = self._call(what, call)
        if resp.status_code == 404 and "annoflow" in path and "<!doctype" in resp.text[:100].lower():
            raise ConnectorError(
                f"Label Studio at {self.base_url} does not have annoflow's access extension "
                f"(GET {path} answered 404). Start it with DJANGO_SETTINGS_MODULE=annoflow_ls.settings "
                f"and extensions/ on PYTHONPATH (README, 'Expert access').")
        if resp.status_code >= 400:
            raise ConnectorError(f"Label Studio refused to {what}: HTTP {resp.status_code} "
                                 f"{resp.text[:300]}")
        return resp.json() if resp.content else None

    # -- experts (through annoflow's access extension) ----------------------------
    def ensure_expert(self, *, login: str, handle: str) -> LSUser:
        """The expert's user, created once per login (a retry finds it)."""
        u = self._http("POST", "api/annoflow/experts/", what=f"create expert {handle}",
                       json_body={"login": login, "handle": handle})
        return LSUser(id=int(u["id"]), username=u["handle"], email=u["login"])

    def set_expert_password(self, *, user_id: int, password: str) -> None:
        self._http("POST", f"api/annoflow/experts/{user_id}/password/",
                   what=f"set the password of user {user_id}", json_body={"password": password})

    def expert_last_logins(self, *, user_ids: list[int]) -> dict[int, datetime | None]:
        if not user_ids:
            return {}
        rows = self._http("GET", f"api/annoflow/experts/?ids={','.join(map(str, user_ids))}",
                          what="read experts' last logins")
        return {int(r["id"]): _dt(r["last_login"]) if r["last_login"] else None for r in rows}

    def set_access(self, *, project_id: int, members: list[int], probes: list[int] | None,
                   gold_rate: float, removed: Sequence[int] | None = None,
                   serving_ttl_s: float | None = None,
                   barred: Mapping[str, Sequence[int]] | None = None,
                   twins: Mapping[int, int] | None = None) -> None:
        """Who may work on the project, who was removed from it for quality (their judgments
        stop counting), which tasks are hidden gold, how often it comes, how long a
        served task stays its expert's, which tasks are never served to whom
        (``barred``: task ref -> users; a ref not imported yet is barred once it is), and
        which are swap probes (``twins``: probe task -> its item's task; served only to
        those who submitted the item). None: as set before. Members left out lose the tasks they hold at once; ``removed``,
        ``barred`` and ``twins`` are the whole sets."""
        body: dict = {"members": members, "probes": probes, "gold_rate": gold_rate}
        if removed is not None:
            body["removed"] = list(removed)
        if barred is not None:
            body["barred"] = {str(t): sorted(users) for t, users in barred.items()}
        if twins is not None:
            body["twins"] = {str(t): int(o) for t, o in twins.items()}
        if serving_ttl_s is not None:
            body["serving_ttl_s"] = serving_ttl_s
        self._http("PUT", f"api/annoflow/projects/{project_id}/access/",
                   what=f"set access to project {project_id}", json_body=body)

    def set_review(self, *, project_id: int, window: int, reviewed: dict[int, int]) -> None:
        """Each expert's submissions live QC has vouched for (counts only grow), and how many
        more Label Studio serves them before the next review (0: no limit)."""
        self._http("PUT", f"api/annoflow/projects/{project_id}/review/",
                   what=f"record live QC's review in project {project_id}",
                   json_body={"window": window, "reviewed": {str(u): n for u, n in reviewed.items()}})

    def expert_activity(self, *, project_id: int) -> dict[int, ExpertActivity]:
        """What each expert ever served in the project holds and when they were last active."""
        rows = self._http("GET", f"api/annoflow/projects/{project_id}/activity/",
                          what=f"read expert activity in project {project_id}")
        return {int(r["user"]): ExpertActivity(
            user_id=int(r["user"]), open_task=r["open_task"],
            open_since=_dt(r["open_since"]) if r["open_since"] else None,
            last_active=_dt(r["last_active"]) if r["last_active"] else None,
            submitted=int(r["submitted"])) for r in rows}

    def routes(self) -> dict[str, Any]:
        return self._http("GET", "api/annoflow/routes/", what="list routes")

    # -- projects ---------------------------------------------------------------
    @staticmethod
    def project_title(*, request_id: str, title: str) -> str:
        return f"{request_id}{TITLE_SEP}{title}"[:LS_TITLE_MAX]

    def _project(self, p: Any) -> LSProject:
        return LSProject(id=p.id, title=p.title, url=self.project_url(p.id),
                         maximum_annotations=p.maximum_annotations or 1)

    def get_project(self, *, project_id: int) -> LSProject | None:
        def get() -> Any:
            try:
                return self._sdk.projects.get(id=project_id)
            except ApiError as err:
                if err.status_code == 404:
                    return None
                raise
        p = self._call(f"read project {project_id}", get)
        return self._project(p) if p is not None else None

    def find_project_by_key(self, *, key: str) -> LSProject | None:
        """The project whose description carries ``key`` (written at creation; a crash
        between creating the project and recording its id finds it this way)."""
        projects = self._call("list projects", lambda: list(self._sdk.projects.list()))
        tag = f"[annoflow {key}]"  # whole: one key may begin another (its qualification's)
        matches = [p for p in projects if tag in (p.description or "")]
        return self._project(matches[0]) if matches else None

    def create_project(self, *, key: str, request_id: str, title: str, label_config: str,
                       overlap: int, description: str) -> LSProject:
        full_title = self.project_title(request_id=request_id, title=title)
        return self._call("create the project", lambda: self._project(self._sdk.projects.create(
            title=full_title, label_config=label_config,
            description=f"{description}\n[annoflow {key}]",
            maximum_annotations=overlap, show_skip_button=False,
            enable_empty_annotation=False, show_annotation_history=False)),
            recover=lambda: self.find_project_by_key(key=key))

    def progress(self, *, project_id: int) -> LSProgress:
        """Tasks, tasks with all the judgments their overlap asks for, and annotations.

        Counted from the annotations themselves: the task's ``total_annotations`` counter
        can miss concurrent submissions on the development server."""
        tasks = finished = annotations = 0
        for t in self.iter_tasks(project_id=project_id):
            n = len({a.completed_by for a in t.annotations if not a.was_cancelled})
            tasks += 1
            finished += n >= t.overlap
            annotations += len(t.annotations)
        return LSProgress(tasks=tasks, finished_tasks=finished, annotations=annotations)

    # -- tasks ------------------------------------------------------------------
    def import_tasks(self, *, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Bulk-import ``{"data":…, "meta": {"ref":…}}`` tasks; returns how many were
        imported. A batch whose answer was lost is retried with only the refs not in the
        project yet: a retry never duplicates a task."""
        n = 0
        for start in range(0, len(tasks), IMPORT_BATCH):
            pending = tasks[start:start + IMPORT_BATCH]

            def send() -> int:
                self._sdk.projects.import_tasks(id=project_id, request=pending,
                                                return_task_ids=False)
                return len(pending)

            def recover() -> int | None:
                nonlocal pending
                have = {t.meta.get("ref") for t in self.iter_tasks(project_id=project_id,
                                                                   with_annotations=False)}
                pending = [t for t in pending if t["meta"]["ref"] not in have]
                return 0 if not pending else None
            before = len(pending)
            self._call("import tasks", send, recover=recover)
            n += before
            failpoint("import:batch-sent")
        return n

    def set_overlaps(self, *, project_id: int, overlaps: dict[int, int]) -> None:
        """Judgments each of these tasks needs (task id -> n), in one request (idempotent)."""
        if overlaps:
            self._http("PUT", f"api/annoflow/projects/{project_id}/overlap/",
                       what=f"set the overlap of {len(overlaps)} task(s) in project {project_id}",
                       json_body={"overlaps": {str(t): n for t, n in overlaps.items()}})

    def iter_tasks(self, *, project_id: int, updated_after: datetime | None = None,
                   with_annotations: bool = True) -> Iterator[LSTask]:
        """Page through the project's tasks, optionally only those changed after a time."""
        query = None
        if updated_after is not None:
            query = json.dumps({"filters": {"conjunction": "and", "items": [{
                "filter": "filter:tasks:updated_at", "operator": "greater",
                "type": "Datetime", "value": ls_time(updated_after)}]}})
        page = 1
        while True:
            resp = self._call("list tasks", lambda pg=page: self._sdk.tasks.list(
                project=project_id, fields="all" if with_annotations else "task_only",
                query=query, page=pg, page_size=PAGE_SIZE))
            items = resp.items or []
            for t in items:
                yield self._task(t)
            # the SDK's has_next is only "this page was not empty", and the page after the
            # last answers 404: stop on the total the server reports
            total = getattr(resp.response, "total", None)
            if len(items) < PAGE_SIZE or (total is not None and page * PAGE_SIZE >= total):
                return
            page += 1

    @staticmethod
    def _task(t: Any) -> LSTask:
        anns = []
        for a in t.annotations or []:
            a = a if isinstance(a, dict) else a.model_dump()
            by = a.get("completed_by")
            anns.append(LSAnnotation(
                id=a["id"], completed_by=by["id"] if isinstance(by, dict) else int(by),
                result=a.get("result") or [], lead_time=a.get("lead_time"),
                was_cancelled=bool(a.get("was_cancelled")), created_at=_dt(a["created_at"]),
                updated_at=_dt(a.get("updated_at") or a["created_at"])))
        return LSTask(id=t.id, data=dict(t.data or {}), meta=dict(t.meta or {}),
                      overlap=t.overlap or 1, updated_at=_dt(t.updated_at), annotations=tuple(anns))

    # -- annotations (what an annotator's submit does) ---------------------------
    def create_annotation(self, *, task_id: int, user_id: int, result: list[dict[str, Any]],
                          lead_time: float) -> int:
        a = self._call(f"annotate task {task_id}", lambda: self._sdk.annotations.create(
            id=task_id, result=result, completed_by=user_id, lead_time=lead_time), budget_s=0)
        return a.id
