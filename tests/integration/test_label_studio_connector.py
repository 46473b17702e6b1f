"""The Label Studio connector against the real server: paging and incremental sync."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from connectors import label_studio as lsmod
from tests.integration.access_kit import make_expert
from tests.integration.conftest import unique_id

CONFIG = ('<View><Text name="t" value="$t"/><Choices name="c" toName="t">'
          '<Choice value="x"/></Choices></View>')


@pytest.fixture()
def project(ls):
    rid = unique_id("it-conn")
    p = ls.create_project(key=rid, request_id=rid, title="connector test", label_config=CONFIG,
                          overlap=1, description="test")
    yield p
    ls._sdk.projects.delete(id=p.id)


def test_paging_stops_on_an_exact_multiple_of_the_page(ls, project) -> None:
    n = lsmod.PAGE_SIZE * 2
    ls.import_tasks(project_id=project.id, tasks=[{"data": {"t": str(i)}, "meta": {"ref": str(i)}}
                                                  for i in range(n)])
    refs = [t.meta["ref"] for t in ls.iter_tasks(project_id=project.id, with_annotations=False)]
    assert sorted(refs, key=int) == [str(i) for i in range(n)]


def test_incremental_listing_returns_only_changed_tasks(ls, settings, project) -> None:
    ls.import_tasks(project_id=project.id, tasks=[{"data": {"t": str(i)}, "meta": {"ref": str(i)}}
                                                  for i in range(20)])
    tasks = list(ls.iter_tasks(project_id=project.id))
    since = max(t.updated_at for t in tasks)
    time.sleep(1.1)
    expert = make_expert(ls, "it-conn")
    ls.set_access(project_id=project.id, members=[expert.user_id], probes=[], gold_rate=0.0)
    result = [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["x"]}}]
    served = []
    with expert.session(settings.expert_url) as session:
        for _ in range(3):  # as a person would: take what the queue serves, submit it
            task = session.next_task(project_id=project.id)
            session.submit(task_id=task.id, result=result)
            served.append(task.id)
    changed = list(ls.iter_tasks(project_id=project.id, updated_after=since))
    assert sorted(t.id for t in changed) == sorted(served)
    assert all(len(t.annotations) == 1 and t.annotations[0].completed_by == expert.user_id
               and t.annotations[0].lead_time > 0 for t in changed)
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(ls.iter_tasks(project_id=project.id, updated_after=later)) == []


def test_project_found_by_key_and_expert_not_duplicated(ls, project) -> None:
    rid = project.title.split(lsmod.TITLE_SEP)[0]
    assert ls.find_project_by_key(key=rid).id == project.id
    assert ls.find_project_by_key(key=unique_id("nobody")) is None
    login = f"{unique_id('x')}@experts.annoflow.invalid"
    first = ls.ensure_expert(login=login, handle="it-conn-handle")
    second = ls.ensure_expert(login=login, handle="it-conn-handle")  # a retried onboarding
    assert first == second
