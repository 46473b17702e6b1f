"""Label Studio as one expert reaches it: the login form, the queue, submissions.

What a person does in the labeling UI, over the same routes and with the same session
cookie and CSRF token the browser uses; no admin token, no ``completed_by``, no choice of
task. The simulated workforce and the access tests use it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx

from annoflow.errors import ConnectorError

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@dataclass(frozen=True)
class ServedTask:
    id: int
    data: dict[str, Any]
    payload: dict[str, Any]   # everything the server sent (for tests of what leaks)


class LoginFailed(ConnectorError):
    """The login form did not accept the expert's email and password."""


class TaskTaken(ConnectorError):
    """409: the task was already submitted by this expert, or has all its judgments."""


class AccessRevoked(ConnectorError):
    """403: the expert is no longer on this campaign (removed or released)."""


class SessionEnded(ConnectorError):
    """401: the expert's session ended (their password was reset meanwhile)."""


def _refused(resp: httpx.Response, what: str) -> None:
    if resp.status_code == 401:
        raise SessionEnded(f"{what}: HTTP 401, the session has ended; sign in again")
    if resp.status_code == 403:
        raise AccessRevoked(f"{what}: HTTP 403, no access to this campaign any more")


class ExpertSession:
    """One expert, logged in through ``/user/login/``."""

    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout_s, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "ExpertSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def login(self, *, email: str, password: str) -> "ExpertSession":
        page = self.http.get("/user/login/")
        token = CSRF_INPUT.search(page.text)
        csrf = token.group(1) if token else self.http.cookies.get("csrftoken", "")
        resp = self.http.post("/user/login/", data={"email": email, "password": password,
                                                    "csrfmiddlewaretoken": csrf},
                              headers={"Referer": f"{self.base_url}/user/login/"})
        if resp.status_code != 302 or "sessionid" not in self.http.cookies:
            raise LoginFailed(f"Label Studio did not accept the login of {email} "
                              f"(HTTP {resp.status_code})")
        return self

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Any request as this expert (CSRF header set as the browser sets it)."""
        headers = {"X-CSRFToken": self.http.cookies.get("csrftoken", ""),
                   "Referer": f"{self.base_url}/", **kw.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kw)

    def projects(self) -> list[tuple[int, str]]:
        """The projects on this expert's projects page: (id, title)."""
        resp = self.request("GET", "/api/projects/", params={"page_size": 100})
        _refused(resp, "list projects")
        if resp.status_code != 200:
            raise ConnectorError(f"list projects: HTTP {resp.status_code} {resp.text[:200]}")
        body = resp.json()
        rows = body.get("results", []) if isinstance(body, dict) else body
        return [(int(p["id"]), str(p.get("title", ""))) for p in rows]

    def next_task(self, *, project_id: int) -> ServedTask | None:
        """The queue's next task for this expert (the API's ``/next``); None when done."""
        resp = self.request("GET", f"/api/projects/{project_id}/next/")
        if resp.status_code == 404:
            return None
        _refused(resp, "next task")
        if resp.status_code != 200:
            raise ConnectorError(f"next task: HTTP {resp.status_code} {resp.text[:200]}")
        body = resp.json()
        return ServedTask(id=body["id"], data=body.get("data") or {}, payload=body)

    def submit(self, *, task_id: int, result: list[dict[str, Any]]) -> dict[str, Any]:
        resp = self.request("POST", f"/api/tasks/{task_id}/annotations/", json={"result": result})
        if resp.status_code == 409:
            raise TaskTaken(f"submit task {task_id}: {resp.json().get('detail', resp.text[:200])}")
        _refused(resp, f"submit task {task_id}")
        if resp.status_code != 201:
            raise ConnectorError(f"submit task {task_id}: HTTP {resp.status_code} {resp.text[:200]}")
        return resp.json()
