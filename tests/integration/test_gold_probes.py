"""Hidden gold, as experts meet it: indistinguishable from work, spread through every
stream at the campaign's gold rate (for early, late and newly added experts alike), and
never holding the campaign up."""
from __future__ import annotations

import math
import threading
from collections import defaultdict

import pytest

from tests.integration.access_kit import answer, make_campaign, make_expert

RATE, OVERLAP, N_WORK, N_GOLD = 0.25, 3, 60, 30
MIN_GOLD = 5  # what a spec's qc.min_gold_judgments asks within 20 judgments at this rate


def _work(session, project_id: int, served: list, limit: int | None = None) -> list:
    while limit is None or len(served) < limit:
        task = session.next_task(project_id=project_id)
        if task is None:
            break
        served.append(task)
        session.submit(task_id=task.id, result=answer("yes" if task.id % 2 else "no"))
    return served


@pytest.fixture(scope="module")
def campaign(ls, settings):
    camp = make_campaign(ls, n_work=N_WORK, n_gold=N_GOLD, n_experts=3, overlap=OVERLAP,
                         gold_rate=RATE, tag="it-gold")
    served: dict[int, list] = defaultdict(list)
    sessions = {e.user_id: e.session(settings.expert_url) for e in camp.experts}
    early = [threading.Thread(target=_work, args=(sessions[e.user_id], camp.project_id,
                                                  served[e.user_id]))
             for e in camp.experts[:2]]
    for t in early:
        t.start()
    for t in early:
        t.join()
    # expert 2 was rostered from the start but arrives late; expert 3 joins mid-campaign
    late = camp.experts[2]
    _work(sessions[late.user_id], camp.project_id, served[late.user_id], limit=10)
    added = make_expert(ls, "it-gold-added")
    ls.set_access(project_id=camp.project_id, members=[e.user_id for e in camp.experts] + [added.user_id],
                  probes=list(camp.gold), gold_rate=RATE)
    sessions[added.user_id] = added.session(settings.expert_url)
    both = [threading.Thread(target=_work, args=(sessions[u], camp.project_id, served[u]))
            for u in (late.user_id, added.user_id)]
    for t in both:
        t.start()
    for t in both:
        t.join()
    after = {u: s.next_task(project_id=camp.project_id) for u, s in sessions.items()}
    for s in sessions.values():
        s.close()
    return camp, served, after, added


def test_work_is_finished_exactly_to_its_overlap(ls, campaign) -> None:
    camp, served, _, _ = campaign
    tasks = {t.id: t for t in ls.iter_tasks(project_id=camp.project_id)}
    for tid in camp.work:
        who = [a.completed_by for a in tasks[tid].annotations]
        assert len(who) == OVERLAP and len(set(who)) == OVERLAP, (tid, who)
    # each expert saw each task at most once
    for user, tasks_served in served.items():
        ids = [t.id for t in tasks_served]
        assert len(ids) == len(set(ids)), user


def test_gold_never_holds_the_campaign(campaign) -> None:
    camp, served, after, added = campaign
    assert all(t is None for t in after.values()), "work is done: nothing more is served"
    # the late experts have not seen every gold item, and nobody waits for them to
    seen = {t.id for t in served[added.user_id]} | {t.id for t in served[camp.experts[2].user_id]}
    assert set(camp.gold) - seen


def test_every_stream_carries_gold_in_each_quarter(campaign) -> None:
    camp, served, _, added = campaign
    gold = set(camp.gold)
    checked = 0
    for user, tasks_served in served.items():
        stream = [t.id in gold for t in tasks_served]
        if len(stream) < 20:
            continue
        checked += 1
        assert sum(stream[:20]) >= MIN_GOLD, (user, stream[:20])
        q = len(stream) / 4
        for i in range(4):
            part = stream[math.floor(i * q):math.floor((i + 1) * q)]
            share = sum(part) / len(part)
            assert RATE / 2 <= share <= 2 * RATE, (user, i, share, stream)
    assert checked == 4, {u: len(s) for u, s in served.items()}  # early, late and added alike


def test_gold_and_work_look_the_same(campaign, ls, settings) -> None:
    camp, served, _, _ = campaign
    gold = set(camp.gold)
    shapes: dict[bool, set] = defaultdict(set)
    for t in (t for ts in served.values() for t in ts):
        shapes[t.id in gold].add((tuple(sorted(t.payload)), tuple(sorted(t.data)),
                                  len(t.payload.get("annotations", []))))
    assert shapes[True] and shapes[True] == shapes[False] and len(shapes[True]) == 1, shapes
    # the detail of a gold task and of a work task, as the expert who labelled both reads them
    expert = camp.experts[0]
    mine = served[expert.user_id]
    g = next(t for t in mine if t.id in gold)
    w = next(t for t in mine if t.id not in gold)
    with expert.session(settings.expert_url) as s:
        dg, dw = (s.request("GET", f"/api/tasks/{t.id}/").json() for t in (g, w))
        project = s.request("GET", f"/api/projects/{camp.project_id}/").json()
    assert set(dg) == set(dw)
    assert {k: type(v) for k, v in dg.items()} == {k: type(v) for k, v in dw.items()}
    assert "overlap" not in dg and "meta" not in dg
    assert project["maximum_annotations"] == 1  # the real overlap stays on the server
