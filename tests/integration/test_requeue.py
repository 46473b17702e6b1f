"""Live quality control while a campaign runs: an expert removed for quality is refused
everything and their judgments stop counting (their tasks are served again, nothing is
deleted); an idle expert's lock on a task lapses after the campaign's serving TTL, or at
once when they are released from the roster; the activity report shows who holds what."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from annoflow.errors import ConnectorError

from tests.integration.access_kit import answer, make_campaign


def _refused(resp) -> None:
    assert resp.status_code == 403, (resp.request.method, str(resp.request.url),
                                     resp.status_code, resp.text[:300])


def test_removed_experts_judgments_stop_counting_and_their_tasks_are_served_again(
        ls, settings) -> None:
    camp = make_campaign(ls, n_work=2, n_gold=0, n_experts=3, overlap=2, gold_rate=0.0,
                         tag="it-requeue")
    a, b, c = camp.experts
    t1, t2 = camp.work
    sa, sb, sc = (e.session(settings.expert_url) for e in camp.experts)
    try:
        assert sa.next_task(project_id=camp.project_id).id == t1
        ann = sa.submit(task_id=t1, result=answer("yes"))
        assert sb.next_task(project_id=camp.project_id).id == t1
        sb.submit(task_id=t1, result=answer("no"))
        assert sc.next_task(project_id=camp.project_id).id == t2  # t1 has its two judgments
        sc.submit(task_id=t2, result=answer("yes"))
        assert sa.next_task(project_id=camp.project_id).id == t2  # A now holds t2
        assert sc.next_task(project_id=camp.project_id) is None  # C is not served t1

        # removed wins over members: A stays out though listed
        ls.set_access(project_id=camp.project_id, members=[a.user_id, b.user_id, c.user_id],
                      probes=[], gold_rate=0.0, removed=[a.user_id])
        assert sc.next_task(project_id=camp.project_id).id == t1  # only B's judgment counts
        sc.submit(task_id=t1, result=answer("yes"))
        assert sb.next_task(project_id=camp.project_id).id == t2  # A's hold on t2 is gone

        _refused(sa.request("GET", f"/api/projects/{camp.project_id}/next/"))
        _refused(sa.request("POST", f"/api/dm/actions/?id=next_task&project={camp.project_id}",
                            json={}))
        for tid in (t1, t2):
            _refused(sa.request("POST", f"/api/tasks/{tid}/annotations/", json={"result": answer()}))
            _refused(sa.request("GET", f"/api/tasks/{tid}/"))
        _refused(sa.request("PATCH", f"/api/annotations/{ann['id']}/", json={"result": answer("no")}))

        # nothing is deleted: A's judgment stays in Label Studio
        tasks = {t.id: t for t in ls.iter_tasks(project_id=camp.project_id)}
        assert sorted(x.completed_by for x in tasks[t1].annotations) == sorted(
            [a.user_id, b.user_id, c.user_id])
        assert [x.result for x in tasks[t1].annotations if x.id == ann["id"]] == [answer("yes")]

        # the same PUT again changes nothing (idempotent); dropping A from removed restores A
        ls.set_access(project_id=camp.project_id, members=[a.user_id, b.user_id, c.user_id],
                      probes=[], gold_rate=0.0, removed=[a.user_id])
        _refused(sa.request("GET", f"/api/projects/{camp.project_id}/next/"))
        ls.set_access(project_id=camp.project_id, members=[a.user_id, b.user_id, c.user_id],
                      probes=[], gold_rate=0.0, removed=[])
        assert sa.request("GET", f"/api/annotations/{ann['id']}/").status_code == 200
    finally:
        for s in (sa, sb, sc):
            s.close()


def test_an_idle_experts_lock_lapses_after_the_serving_ttl(ls, settings) -> None:
    camp = make_campaign(ls, n_work=1, n_gold=0, n_experts=2, overlap=1, gold_rate=0.0,
                         tag="it-ttl")
    a, b = camp.experts
    ls.set_access(project_id=camp.project_id, members=[a.user_id, b.user_id], probes=[],
                  gold_rate=0.0, serving_ttl_s=2)
    with a.session(settings.expert_url) as sa, b.session(settings.expert_url) as sb:
        (task,) = camp.work
        assert sa.next_task(project_id=camp.project_id).id == task  # A sits on it
        assert sb.next_task(project_id=camp.project_id) is None
        time.sleep(2.2)
        assert sb.next_task(project_id=camp.project_id).id == task
        sb.submit(task_id=task, result=answer())
        assert sa.next_task(project_id=camp.project_id) is None  # done: A is not served it again


def test_a_released_expert_frees_their_task_at_once_and_their_judgments_count(
        ls, settings) -> None:
    camp = make_campaign(ls, n_work=2, n_gold=0, n_experts=2, overlap=1, gold_rate=0.0,
                         tag="it-release")
    b, c = camp.experts
    t1, t2 = camp.work
    with b.session(settings.expert_url) as sb, c.session(settings.expert_url) as sc:
        assert sb.next_task(project_id=camp.project_id).id == t1
        sb.submit(task_id=t1, result=answer())
        assert sb.next_task(project_id=camp.project_id).id == t2  # B holds t2
        assert sc.next_task(project_id=camp.project_id) is None
        ls.set_access(project_id=camp.project_id, members=[c.user_id], probes=[], gold_rate=0.0)
        _refused(sb.request("GET", f"/api/projects/{camp.project_id}/next/"))
        _refused(sb.request("POST", f"/api/tasks/{t2}/annotations/", json={"result": answer()}))
        assert sc.next_task(project_id=camp.project_id).id == t2  # no wait for the TTL
        sc.submit(task_id=t2, result=answer())
        assert sc.next_task(project_id=camp.project_id) is None  # B's judgment of t1 counts
    tasks = {t.id: t for t in ls.iter_tasks(project_id=camp.project_id)}
    assert [x.completed_by for x in tasks[t1].annotations] == [b.user_id]


def test_activity_shows_the_open_task_and_the_last_activity(ls, settings) -> None:
    camp = make_campaign(ls, n_work=3, n_gold=0, n_experts=2, overlap=1, gold_rate=0.0,
                         tag="it-activity")
    a, idle = camp.experts
    start = datetime.now(timezone.utc)
    with a.session(settings.expert_url) as sa:
        first = sa.next_task(project_id=camp.project_id)
        sa.submit(task_id=first.id, result=answer())
        second = sa.next_task(project_id=camp.project_id)
        _refused(sa.request("GET", f"/api/annoflow/projects/{camp.project_id}/activity/"))
    rows = ls.expert_activity(project_id=camp.project_id)
    assert set(rows) == {a.user_id}  # never served: not listed
    row = rows[a.user_id]
    assert row.open_task == second.id and row.submitted == 1
    assert row.open_since is not None and row.last_active is not None
    assert row.last_active >= row.open_since
    # the server's clock and this one agree to within a few seconds on one machine
    assert abs((row.open_since - start).total_seconds()) < 30
    ls.set_access(project_id=camp.project_id, members=[idle.user_id], probes=[], gold_rate=0.0)
    row = ls.expert_activity(project_id=camp.project_id)[a.user_id]
    assert row.open_task is None and row.open_since is None and row.submitted == 1


def test_a_finished_task_whose_overlap_is_raised_is_served_again_once(ls, settings) -> None:
    """Dynamic overlap's path in Label Studio: raising a judged task's overlap (which does
    not reset Label Studio's is_labeled) serves it to one more expert, and no further."""
    camp = make_campaign(ls, n_work=1, n_gold=0, n_experts=4, overlap=2, gold_rate=0.0,
                         tag="it-overlap")
    (task,) = camp.work
    sessions = [e.session(settings.expert_url) for e in camp.experts]
    sa, sb, sc, sd = sessions
    try:
        for s in (sa, sb):
            assert s.next_task(project_id=camp.project_id).id == task
            s.submit(task_id=task, result=answer())
        assert sc.next_task(project_id=camp.project_id) is None  # two of two
        ls.set_overlaps(project_id=camp.project_id, overlaps={task: 3})
        assert sa.next_task(project_id=camp.project_id) is None  # not to who judged it
        assert sc.next_task(project_id=camp.project_id).id == task
        assert sd.next_task(project_id=camp.project_id) is None  # C holds the one asked for
        sc.submit(task_id=task, result=answer("no"))
        assert sd.next_task(project_id=camp.project_id) is None  # three of three
        (t,) = [t for t in ls.iter_tasks(project_id=camp.project_id) if t.id == task]
        assert t.overlap == 3 and len(t.annotations) == 3
        # only the project's own tasks, and only counts of at least one
        other = make_campaign(ls, n_work=1, n_gold=0, n_experts=1, overlap=1, gold_rate=0.0,
                              tag="it-overlap")
        for bad in ({other.work[0]: 2}, {task: 0}):
            with pytest.raises(ConnectorError, match="refused to set the overlap"):
                ls.set_overlaps(project_id=camp.project_id, overlaps=bad)
        (o,) = list(ls.iter_tasks(project_id=other.project_id))
        assert o.overlap == 1
        _refused(sa.request("PUT", f"/api/annoflow/projects/{camp.project_id}/overlap/",
                            json={"overlaps": {str(task): 9}}))  # an expert may not
    finally:
        for s in sessions:
            s.close()


def test_a_barred_expert_is_never_served_the_task_and_loses_it_if_held(ls, settings) -> None:
    """A reviewer is barred from the second look at their own rejection, by the task's ref:
    that task is served to the others only, taken back from the barred one if they held
    it, and a bar set before its task is imported holds once it is."""
    camp = make_campaign(ls, n_work=3, n_gold=0, n_experts=2, overlap=1, gold_rate=0.0,
                         tag="it-bar")
    a, b = camp.experts
    t1, t2, t3 = camp.work
    ref = {t.id: t.meta["ref"] for t in ls.iter_tasks(project_id=camp.project_id,
                                                      with_annotations=False)}
    members = [a.user_id, b.user_id]
    with a.session(settings.expert_url) as sa, b.session(settings.expert_url) as sb:
        assert sa.next_task(project_id=camp.project_id).id == t1  # A holds t1
        ls.set_access(project_id=camp.project_id, members=members, probes=[], gold_rate=0.0,
                      barred={ref[t1]: [a.user_id], ref[t2]: [a.user_id], "later": [a.user_id]})
        _refused(sa.request("POST", f"/api/tasks/{t1}/annotations/", json={"result": answer()}))
        assert sa.next_task(project_id=camp.project_id).id == t3
        sa.submit(task_id=t3, result=answer())
        assert sa.next_task(project_id=camp.project_id) is None  # t1 and t2 are not for A
        ls.import_tasks(project_id=camp.project_id,
                        tasks=[{"data": {"text": "imported after its bar"}, "meta": {"ref": "later"}}])
        assert sa.next_task(project_id=camp.project_id) is None
        assert sb.next_task(project_id=camp.project_id).id == t1
        sb.submit(task_id=t1, result=answer())
        # the bars stay as they are when a later call leaves them out, and go when emptied
        ls.set_access(project_id=camp.project_id, members=members, probes=[], gold_rate=0.0)
        assert sa.next_task(project_id=camp.project_id) is None
        ls.set_access(project_id=camp.project_id, members=members, probes=[], gold_rate=0.0,
                      barred={})
        assert sa.next_task(project_id=camp.project_id).id == t2


def test_a_swap_probe_goes_to_each_expert_who_judged_its_item_a_few_tasks_later(
        ls, settings) -> None:
    """The last task is made the swap probe of the third (``twins``): it is never served as
    work; A and B, who judged the item, get it three tasks later, once each, though its own
    overlap is 1; C, who did not judge the item, never gets it."""
    gap = 3  # extensions/annoflow_ls/scheduler.py: TWIN_GAP
    camp = make_campaign(ls, n_work=12, n_gold=0, n_experts=3, overlap=2, gold_rate=0.0,
                         tag="it-twin")
    a, b, c = camp.experts
    item, probe = camp.work[2], camp.work[-1]
    ls.set_access(project_id=camp.project_id, members=[e.user_id for e in camp.experts],
                  probes=[], gold_rate=0.0, twins={probe: item})
    ls.set_overlaps(project_id=camp.project_id, overlaps={probe: 1})

    def stream(session, most: int = 100) -> list[int]:
        served = []
        while len(served) < most and (task := session.next_task(project_id=camp.project_id)):
            served.append(task.id)
            session.submit(task_id=task.id, result=answer())
        return served

    with a.session(settings.expert_url) as sa, b.session(settings.expert_url) as sb, \
            c.session(settings.expert_url) as sc:
        first = stream(sa)
        third = stream(sc, most=2)  # the two tasks before the item, each's second judgment
        second = stream(sb)
        third += stream(sc)
    for served in (first, second):
        assert served.count(probe) == 1, served
        assert served.index(probe) == served.index(item) + gap + 1, served
    assert first == [*camp.work[:6], probe, *camp.work[6:-1]]
    assert third == list(camp.work[:2]), third
    tasks = {t.id: t for t in ls.iter_tasks(project_id=camp.project_id)}
    assert sorted(x.completed_by for x in tasks[probe].annotations) == sorted([a.user_id, b.user_id])
    with pytest.raises(ConnectorError):  # a probe of a task of another project is refused
        ls.set_access(project_id=camp.project_id, members=[a.user_id], probes=[], gold_rate=0.0,
                      twins={probe: 10**9})
