"""One retry layer, and creates that a retry cannot duplicate (issue 9, item 3).

A real Label Studio behind a faulty network (tests/support/faulty_proxy.py): the server
handles the request, but its answer is lost, as when a read times out. annoflow used to
send the request again (the SDK, its own loop and Prefect each retried), which left two
projects, or every task twice.
"""
from __future__ import annotations

import time
import uuid
from urllib.parse import urlparse

import pytest

from annoflow.errors import ConnectorError
from connectors.label_studio import LabelStudioClient
from tests.integration.access_kit import LABEL_CONFIG as CONFIG
from tests.support.faulty_proxy import FaultyProxy, Rule


@pytest.fixture()
def proxy(settings):
    u = urlparse(settings.label_studio_url)
    with FaultyProxy((u.hostname, u.port)) as p:
        yield p


def _client(settings, proxy: FaultyProxy, budget_s: float = 30) -> LabelStudioClient:
    return LabelStudioClient(settings.model_copy(update={"label_studio_url": proxy.url,
                                                         "retry_budget_s": budget_s}))


def _with_key(ls: LabelStudioClient, key: str) -> list:
    return [p for p in ls._sdk.projects.list() if key in (p.description or "")]


def test_a_project_whose_creation_answer_was_lost_is_made_once(settings, ls, proxy) -> None:
    key = uuid.uuid4().hex
    proxy.rules.append(Rule("POST", r"^/api/projects/?$", "drop"))
    made = _client(settings, proxy).create_project(
        key=key, request_id=f"it-retry-{key[:8]}", title="retry", label_config=CONFIG,
        overlap=1, description="annoflow retry test")
    assert proxy.count("POST", r"^/api/projects/?$") == 1  # the lost create was not re-sent
    assert [p.id for p in _with_key(ls, key)] == [made.id]


def test_an_import_whose_answer_was_lost_imports_each_task_once(settings, ls, proxy) -> None:
    key = uuid.uuid4().hex
    project = ls.create_project(key=key, request_id=f"it-retry-{key[:8]}", title="retry",
                                label_config=CONFIG, overlap=1, description="retry test")
    tasks = [{"data": {"text": f"item {i}"}, "meta": {"ref": f"r{i}"}} for i in range(1500)]
    # the first batch (1000) is lost on the way back; the second batch gets through
    proxy.rules.append(Rule("POST", rf"^/api/projects/{project.id}/import", "drop"))
    n = _client(settings, proxy).import_tasks(project_id=project.id, tasks=tasks)
    assert n == 1500
    refs = [t.meta["ref"] for t in ls.iter_tasks(project_id=project.id, with_annotations=False)]
    assert len(refs) == 1500 and len(set(refs)) == 1500
    assert proxy.count("POST", rf"^/api/projects/{project.id}/import") == 2  # no batch twice


def test_a_gateway_error_on_a_read_is_retried(settings, ls, proxy) -> None:
    key = uuid.uuid4().hex
    project = ls.create_project(key=key, request_id=f"it-retry-{key[:8]}", title="retry",
                                label_config=CONFIG, overlap=1, description="retry test")
    proxy.rules.append(Rule("GET", rf"^/api/projects/{project.id}/?", "503", times=2))
    assert _client(settings, proxy).get_project(project_id=project.id).id == project.id
    assert [o for m, p, o in proxy.seen if m == "GET"] == ["503", "503", "ok"]


def test_a_refusal_is_not_retried(settings, proxy) -> None:
    with pytest.raises(ConnectorError, match="Label Studio refused to create the project: HTTP 400"):
        _client(settings, proxy).create_project(
            key=uuid.uuid4().hex, request_id="it-retry-bad", title="bad",
            label_config="<View><Choices name=\"c\" toName=\"nowhere\"/>", overlap=1, description="")
    assert proxy.count("POST", r"^/api/projects/?$") == 1


def test_the_retry_budget_bounds_all_attempts_and_names_the_service(settings, proxy) -> None:
    proxy.rules.append(Rule("GET", r"^/api/projects", "503", times=10_000))
    started = time.monotonic()
    with pytest.raises(ConnectorError) as err:
        _client(settings, proxy, budget_s=3).get_project(project_id=1)
    waited = time.monotonic() - started
    assert 2.5 <= waited < 8, waited
    assert f"Label Studio at {proxy.url} is unreachable while trying to read project 1" in str(err.value)
    assert "ANNOFLOW_RETRY_BUDGET_S" in str(err.value)
