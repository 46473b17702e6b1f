"""The Label Studio connector against the real server: paging and incremental sync."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from connectors import label_studio as lsmod
from tests.integration.conftest import unique_id

CONFIG = ('<View><Text name="t" value="$t"/><Choices name="c" toName="t">'
          '<Choice value="x"/></Choices></View>')


@pytest.fixture()
def project(ls):
    rid = unique_id("it-conn")
    p = ls.ensure_project(request_id=rid, title="connector test", label_config=CONFIG, overlap=1,
                          description="test")
    yield p
    ls._sdk.projects.delete(id=p.id)


def test_paging_stops_on_an_exact_multiple_of_the_page(ls, project) -> None:
    n = lsmod.PAGE_SIZE * 2
    ls.import_tasks(project_id=project.id, tasks=[{"data": {"t": str(i)}, "meta": {"ref": str(i)}}
                                                  for i in range(n)])
    refs = [t.meta["ref"] for t in ls.iter_tasks(project_id=project.id, with_annotations=False)]
    assert sorted(refs, key=int) == [str(i) for i in range(n)]


def test_incremental_listing_returns_only_changed_tasks(ls, project) -> None:
    ls.import_tasks(project_id=project.id, tasks=[{"data": {"t": str(i)}, "meta": {"ref": str(i)}}
                                                  for i in range(20)])
    tasks = list(ls.iter_tasks(project_id=project.id))
    since = max(t.updated_at for t in tasks)
    time.sleep(1.1)
    user = ls.list_users()[0].id
    result = [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["x"]}}]
    for t in tasks[:3]:
        ls.create_annotation(task_id=t.id, user_id=user, result=result, lead_time=2.5)
    changed = list(ls.iter_tasks(project_id=project.id, updated_after=since))
    assert sorted(t.id for t in changed) == sorted(t.id for t in tasks[:3])
    assert all(len(t.annotations) == 1 and t.annotations[0].lead_time == 2.5 for t in changed)
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(ls.iter_tasks(project_id=project.id, updated_after=later)) == []


def test_project_and_users_are_found_not_duplicated(ls, project) -> None:
    rid = project.title.split(lsmod.TITLE_SEP)[0]
    again = ls.ensure_project(request_id=rid, title="other title", label_config=CONFIG,
                              overlap=1, description="")
    assert again.id == project.id
    people = [{"username": "it-conn-user", "email": "it-conn-user@example.org"}]
    first = ls.ensure_users(people=people)
    second = ls.ensure_users(people=people)
    assert first == second
    assert sum(u.username == "it-conn-user" for u in ls.list_users()) == 1
