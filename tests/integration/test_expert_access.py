"""Least privilege, tried as an expert: each attempt a logged-in expert could make through
the API is refused, labelling still works, and nothing the browser claims is trusted.

Every test logs in through Label Studio's own login form with the expert's own password
(``ExpertSession``), as a person would.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.access_kit import Campaign, answer, make_campaign

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: what an expert may receive about a task; nothing else (no meta, overlap, counters)
TASK_KEYS = {"id", "data", "annotations", "predictions", "drafts", "project"}


@pytest.fixture(scope="module")
def camp(ls) -> Campaign:
    return make_campaign(ls, n_work=12, n_gold=4, n_experts=3, overlap=2, gold_rate=0.25,
                         tag="it-access")


@pytest.fixture(scope="module")
def other(ls) -> Campaign:
    """Another client's campaign, with nobody of ``camp`` on it."""
    return make_campaign(ls, n_work=3, n_gold=1, n_experts=1, overlap=1, gold_rate=0.25,
                         tag="it-other")


@pytest.fixture(scope="module")
def first(camp, settings):
    """Expert 0 of ``camp`` has labelled one task; the session stays open."""
    s = camp.experts[0].session(settings.expert_url)
    task = s.next_task(project_id=camp.project_id)
    ann = s.submit(task_id=task.id, result=answer("yes"))
    yield s, task, ann
    s.close()


@pytest.fixture(scope="module")
def second(camp, settings):
    s = camp.experts[1].session(settings.expert_url)
    yield s
    s.close()


def _denied(resp) -> None:
    assert resp.status_code == 403, (resp.request.method, str(resp.request.url),
                                     resp.status_code, resp.text[:300])


# -- labelling works, as the expert --------------------------------------------------
def test_served_task_carries_nothing_but_what_labelling_needs(camp, first) -> None:
    _, task, ann = first
    assert set(task.payload) <= TASK_KEYS
    assert "meta" not in task.payload and "overlap" not in task.payload
    assert ann["completed_by"] == camp.experts[0].user_id


def test_the_server_decides_who_submitted_and_how_long_it_took(ls, camp, second) -> None:
    task = second.next_task(project_id=camp.project_id)
    time.sleep(1.5)
    forged = {"result": answer("no"), "completed_by": camp.experts[0].user_id,
              "lead_time": 0.001, "started_at": "2020-01-01T00:00:00Z"}
    resp = second.request("POST", f"/api/tasks/{task.id}/annotations/", json=forged)
    assert resp.status_code == 201, resp.text
    stored = [a for t in ls.iter_tasks(project_id=camp.project_id) if t.id == task.id
              for a in t.annotations]
    assert [a.completed_by for a in stored if a.id == resp.json()["id"]] == [camp.experts[1].user_id]
    lead = [a.lead_time for a in stored if a.id == resp.json()["id"]][0]
    assert 1.5 <= lead < 30, lead  # measured from serving to submission, not the browser's 0.001
    # submitting the same task again is refused: one judgment per expert per task
    _denied_or_conflict = second.request("POST", f"/api/tasks/{task.id}/annotations/",
                                         json={"result": answer("yes")})
    assert _denied_or_conflict.status_code == 409


@pytest.mark.parametrize("result,why", [
    ([], "empty"),
    ([{"from_name": "label", "to_name": "text", "type": "choices",
       "value": {"choices": ["maybe"]}}], "not among the offered options"),
    ([{"from_name": "secret", "to_name": "text", "type": "choices",
       "value": {"choices": ["yes"]}}], "not a question of this project"),
    ([{"from_name": "label", "to_name": "text", "type": "rating", "value": {"rating": 3}}],
     "is a choices question"),
    ("yes", "empty"),
])
def test_malformed_answers_are_refused_and_nothing_is_stored(ls, camp, settings, result, why) -> None:
    """A made-up answer would count toward the task's overlap and the campaign would wait
    forever for a judgment it will never get: it is refused, and the task stays open."""
    with camp.experts[2].session(settings.expert_url) as s:
        task = s.next_task(project_id=camp.project_id)
        resp = s.request("POST", f"/api/tasks/{task.id}/annotations/", json={"result": result})
        assert resp.status_code == 400 and why in resp.json()["detail"], resp.text
        stored = [a for t in ls.iter_tasks(project_id=camp.project_id) if t.id == task.id
                  for a in t.annotations if a.completed_by == camp.experts[2].user_id]
        assert stored == []
        assert s.next_task(project_id=camp.project_id).id == task.id  # still theirs to answer


def test_two_submissions_at_once_store_one_judgment(ls, settings) -> None:
    camp = make_campaign(ls, n_work=2, n_gold=0, n_experts=1, overlap=1, gold_rate=0.0,
                         tag="it-double")
    with camp.experts[0].session(settings.expert_url) as s:
        task = s.next_task(project_id=camp.project_id)
        with ThreadPoolExecutor(4) as pool:
            codes = sorted(pool.map(lambda _: s.request(
                "POST", f"/api/tasks/{task.id}/annotations/", json={"result": answer()}).status_code,
                range(4)))
    assert codes == [201, 409, 409, 409]
    (t,) = [t for t in ls.iter_tasks(project_id=camp.project_id) if t.id == task.id]
    assert len(t.annotations) == 1


def test_own_annotation_can_be_read_and_edited(camp, first) -> None:
    s, task, ann = first
    got = s.request("GET", f"/api/annotations/{ann['id']}/")
    assert got.status_code == 200 and got.json()["id"] == ann["id"]
    edit = s.request("PATCH", f"/api/annotations/{ann['id']}/",
                     json={"result": answer("no"), "completed_by": camp.experts[1].user_id,
                           "ground_truth": False})
    assert edit.status_code == 200, edit.text
    assert edit.json()["completed_by"] == camp.experts[0].user_id
    detail = s.request("GET", f"/api/tasks/{task.id}/")
    assert detail.status_code == 200
    assert set(detail.json()) <= TASK_KEYS
    assert [a["id"] for a in detail.json()["annotations"]] == [ann["id"]]


# -- refused ---------------------------------------------------------------------------
def test_another_clients_project_is_invisible(camp, other, first) -> None:
    s = first[0]
    listed = s.request("GET", "/api/projects/")
    assert listed.status_code == 200
    ids = [p["id"] for p in listed.json()["results"]]
    assert ids == [camp.project_id]
    for path in (f"/api/projects/{other.project_id}/", f"/api/projects/{other.project_id}/next/",
                 f"/projects/{other.project_id}/data/",
                 f"/api/projects/{other.project_id}/label-stream-history/"):
        _denied(s.request("GET", path))
    _denied(s.request("POST", f"/api/dm/actions/?id=next_task&project={other.project_id}",
                      json={}))
    _denied(s.request("GET", f"/api/tasks/{other.work[0]}/"))
    _denied(s.request("POST", f"/api/tasks/{other.work[0]}/annotations/",
                      json={"result": answer()}))


def test_another_experts_annotation_cannot_be_listed_read_changed_or_deleted(
        camp, first, second) -> None:
    s1, task, ann = first
    # the second expert is served the task the first one labelled (overlap 2) or another;
    # either way they never see the first one's annotation
    _denied(second.request("GET", f"/api/annotations/{ann['id']}/"))
    _denied(second.request("PATCH", f"/api/annotations/{ann['id']}/", json={"result": answer("no")}))
    _denied(second.request("DELETE", f"/api/annotations/{ann['id']}/"))
    listing = second.request("GET", f"/api/tasks/{task.id}/annotations/")
    if listing.status_code == 200:  # served to them too: only their own entries
        assert all(a["completed_by"] == camp.experts[1].user_id for a in listing.json())
    else:
        _denied(listing)
    # and the first expert cannot delete their own either: judgments are kept
    _denied(s1.request("DELETE", f"/api/annotations/{ann['id']}/"))


def test_no_names_no_emails_no_user_list(camp, first) -> None:
    s = first[0]
    users = s.request("GET", "/api/users/")
    assert users.status_code == 200
    assert [u["id"] for u in users.json()] == [camp.experts[0].user_id]
    text = users.text + s.request("GET", "/api/current-user/whoami/").text
    for e in camp.experts[1:]:
        assert e.login not in text
    _denied(s.request("GET", f"/api/users/{camp.experts[1].user_id}/"))
    # nobody else's login appears anywhere the expert reads
    pages = [s.request("GET", p).text for p in ("/api/projects/", f"/api/projects/{camp.project_id}/")]
    assert not any(e.login in page for e in camp.experts[1:] for page in pages)
    assert "admin@annoflow.local" not in "".join(pages) + text


def test_ground_truth_and_skips_are_refused(camp, settings) -> None:
    with camp.experts[2].session(settings.expert_url) as s:
        task = s.next_task(project_id=camp.project_id)
        _denied(s.request("POST", f"/api/tasks/{task.id}/annotations/",
                          json={"result": answer(), "ground_truth": True}))
        _denied(s.request("POST", f"/api/tasks/{task.id}/annotations/",
                          json={"result": [], "was_cancelled": True}))


EMPTY_OK = {"/api/tasks/?project={p}&fields=all", "/api/ml/?project={p}"}


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/api/projects/{p}/export?exportType=JSON", None),
    ("GET", "/api/projects/{p}/export/formats", None),
    ("POST", "/api/projects/{p}/exports/", {}),
    ("DELETE", "/api/projects/{p}/", None),
    ("PATCH", "/api/projects/{p}/", {"maximum_annotations": 1}),
    ("PUT", "/api/projects/{p}/", {"title": "mine"}),
    ("POST", "/api/projects/", {"title": "my own project"}),
    ("POST", "/api/projects/{p}/import", [{"text": "x"}]),
    ("GET", "/api/webhooks/", None),
    ("POST", "/api/webhooks/", {"url": "http://127.0.0.1:9/", "project": "{p}"}),
    ("GET", "/api/storages/s3?project={p}", None),
    ("POST", "/api/storages/s3", {"project": "{p}", "bucket": "x"}),
    ("GET", "/api/ml/?project={p}", None),
    ("POST", "/api/ml/", {"url": "http://127.0.0.1:9/", "project": "{p}"}),
    ("POST", "/api/dm/actions/?id=delete_tasks&project={p}", {"selectedItems": {"all": True}}),
    ("POST", "/api/dm/actions/?id=delete_tasks_annotations&project={p}",
     {"selectedItems": {"all": True}}),
    ("PATCH", "/api/users/{u}/", {"username": "renamed", "email": "me@example.org"}),
    ("PATCH", "/api/current-user/", {"username": "renamed"}),
    ("GET", "/api/current-user/token", None),
    ("POST", "/api/current-user/reset-token/", None),
    ("GET", "/api/organizations/", None),
    ("GET", "/api/invite", None),
    ("GET", "/api/tasks/?project={p}&fields=all", None),
    ("DELETE", "/api/tasks/{t}/", None),
    ("PATCH", "/api/tasks/{t}/", {"overlap": 1}),
    ("GET", "/user/signup/", None),
    ("POST", "/user/signup/", {"email": "new@example.org", "password": "whatever-123456"}),
])
def test_each_forbidden_action_is_refused(ls, camp, first, method, path, body) -> None:
    s = first[0]
    fill = {"p": camp.project_id, "u": camp.experts[0].user_id, "t": camp.work[0]}
    url = path.format(**fill)
    if isinstance(body, dict):
        body = {k: (v.format(**fill) if isinstance(v, str) else v) for k, v in body.items()}
    resp = s.request(method, url, json=body) if body is not None else s.request(method, url)
    if path in EMPTY_OK:
        # lists the labeling UI reads when it loads: they answer, with nothing in them
        assert resp.status_code in (200, 403), resp.text[:300]
        if resp.status_code == 200:
            body = resp.json()
            assert body == [] or (isinstance(body, dict) and body.get("tasks") == []), body
    else:
        _denied(resp)
    # and nothing changed
    p = ls.get_project(project_id=camp.project_id)
    assert p is not None and p.maximum_annotations == camp.overlap
    assert len(list(ls.iter_tasks(project_id=camp.project_id, with_annotations=False))) == \
        len(camp.work) + len(camp.gold)


def test_api_tokens_are_refused_for_experts(camp, first) -> None:
    """Even an expert who obtained a token (they cannot) could not use it."""
    s = first[0]
    resp = s.http.get("/api/projects/", headers={"Authorization": "Token not-a-real-token"})
    assert resp.status_code in (401, 403)


def test_the_browsers_filters_and_selection_do_not_choose_the_task(camp, settings) -> None:
    """The label stream's POST carries filters, ordering and selected items: ignored."""
    with camp.experts[2].session(settings.expert_url) as s:
        queued = s.next_task(project_id=camp.project_id)  # open serving (or the next one)
        wanted = [t for t in camp.work + camp.gold if t != queued.id][-1]
        body = {"filters": {"conjunction": "and", "items": []}, "ordering": ["-tasks:id"],
                "selectedItems": {"all": False, "included": [wanted]}}
        resp = s.request("POST", f"/api/dm/actions/?id=next_task&project={camp.project_id}",
                         json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json()["id"] == queued.id
        assert set(resp.json()) <= TASK_KEYS


# -- every other route -----------------------------------------------------------------
def test_every_route_refuses_what_experts_are_not_allowed(ls, first) -> None:
    """Enumerate Label Studio's URL resolver (through the manager API) and try every
    route with every method as the expert: anything not on the allowlist answers 403."""
    s = first[0]
    routes = ls.routes()["routes"]
    assert len(routes) > 150
    # (path: made and resolved by the server, as the middleware sees it)
    tries = [(r, method) for r in routes for method in METHODS if method not in r["expert_methods"]]
    assert len(tries) > 600

    def attempt(try_):
        r, method = try_
        resp = s.request(method, r["sample_path"])
        return None if resp.status_code == 403 else (r, method, resp.status_code, resp.text[:200])
    with ThreadPoolExecutor(4) as pool:  # the expert's one session, four requests at a time
        allowed = [x for x in pool.map(attempt, tries) if x is not None]
    assert not allowed, allowed[:5]
    _denied(s.request("POST", "/static/anything.js"))
