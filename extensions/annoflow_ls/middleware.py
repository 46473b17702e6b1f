"""Least privilege for experts, enforced in front of every Label Studio view.

A request from a staff user (a delivery manager, annoflow's own API token) passes
untouched. A request from anyone else who is logged in (an expert) passes only when its
route and method are in ``RULES``; the rule's handler then checks that the project or
task is the expert's, rewrites what the browser sent where it must not be trusted, and
cuts the response down to the expert's own work. Everything else answers 403. Sign-up
is closed for everyone.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone

from annoflow_ls import results, scheduler, scrub

#: static assets of the UI (no URL name): GET only
STATIC_PREFIXES = ("/static/", "/react-app/", "/label-studio-frontend/", "/dm/",
                   "/favicon.ico", "/sw.js", "/sw-fallback.js")
CLOSED_PREFIXES = ("/user/signup",)
WRITE_KEYS = ("result", "draft_id")  # what an expert's submission may carry
DRAFT_KEYS = ("result", "lead_time", "was_postponed")  # what an expert's draft may carry
VIEW_KEYS = ("data",)  # what an expert's data-manager tab may carry (its project is checked)


def deny(why: str, status: int = 403) -> JsonResponse:
    return JsonResponse({"detail": why, "status_code": status}, status=status)


def is_manager(user: Any) -> bool:
    return bool(user.is_staff or user.is_superuser)


def _identify(request: HttpRequest) -> tuple[Any | None, bool]:
    """(user or None, came with a token). Session and JWT users are set by the
    middleware before this one; legacy tokens are authenticated only in the views, so
    they are looked up here."""
    header = request.META.get("HTTP_AUTHORIZATION", "")
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user, bool(header)
    if header:
        from rest_framework.authtoken.models import Token
        key = header.split()[-1] if header.split() else ""
        tok = Token.objects.select_related("user").filter(key=key).first()
        return (tok.user if tok else None), True
    return None, False


def _json(response: HttpResponse) -> Any:
    return json.loads(response.content or b"null")


def _replace(response: HttpResponse, payload: Any) -> HttpResponse:
    response.content = json.dumps(payload).encode()
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))
    return response


def _rewrite_body(request: HttpRequest, body: dict[str, Any]) -> None:
    raw = json.dumps(body).encode()
    request._body = raw
    request._stream = io.BytesIO(raw)
    request.META["CONTENT_LENGTH"] = str(len(raw))


def _body(request: HttpRequest) -> dict[str, Any] | JsonResponse:
    if request.content_type != "application/json":
        return deny("send JSON", 415)
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return deny("the body is not JSON", 400)
    return body if isinstance(body, dict) else deny("the body must be a JSON object", 400)


def _keep_only(request: HttpRequest, keys: tuple[str, ...]) -> JsonResponse | None:
    """Cut the JSON body down to ``keys`` (None), or the refusal of a body that is not JSON."""
    body = _body(request)
    if isinstance(body, JsonResponse):
        return body
    _rewrite_body(request, {k: body[k] for k in keys if k in body})
    return None


def _scrubbed(response: HttpResponse, cut: Callable[[Any], Any], ok: int = 200) -> HttpResponse:
    """The response with its JSON cut by ``cut`` when it succeeded; as is otherwise."""
    return _replace(response, cut(_json(response))) if response.status_code == ok else response


def _member(user: Any, project_id: Any) -> bool:
    from projects.models import ProjectMember
    try:
        pid = int(project_id)
    except (TypeError, ValueError):
        return False
    return ProjectMember.objects.filter(user=user, project_id=pid, enabled=True).exists()


def _query_project(request: HttpRequest) -> str | None:
    """The one ``project`` of the query string (None when missing or given twice: Label
    Studio's views read one of them and default to project 1 when there is none)."""
    values = request.GET.getlist("project")
    return values[0] if len(values) == 1 else None


def _member_ids(user: Any) -> set[int]:
    from projects.models import ProjectMember
    return set(ProjectMember.objects.filter(user=user, enabled=True)
               .values_list("project_id", flat=True))


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


@dataclass(frozen=True)
class Rule:
    methods: frozenset[str]
    handler: Callable[..., HttpResponse]


class ExpertAccessMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith(CLOSED_PREFIXES):
            return deny("sign-up is closed: annoflow gives experts their login")
        user, by_token = _identify(request)
        if user is None or is_manager(user):
            return self.get_response(request)  # Label Studio asks anonymous users to log in
        if by_token:
            return deny("experts sign in through the login form; API tokens are refused")
        if path.startswith(STATIC_PREFIXES):
            return self.get_response(request) if request.method in ("GET", "HEAD") else deny("read only")
        try:
            match = resolve(path)
        except Resolver404:
            if not path.endswith("/") and _resolves(path + "/"):
                # the UI calls /api/projects for /api/projects/: answer 404 without
                # running anything, so that Label Studio's CommonMiddleware retries the
                # request with the slash, through this middleware again
                return deny("not found", 404)
            return deny("not available to experts")
        rule = RULES.get(match.url_name or "")
        if rule is None or request.method not in rule.methods:
            return deny("not available to experts")
        return rule.handler(self, request, user, **match.kwargs)

    # -- handlers ------------------------------------------------------------------
    def passthrough(self, request, user, **_):
        return self.get_response(request)

    def project_page(self, request, user, pk, **_):
        return self.get_response(request) if _member(user, pk) else deny("not your project")

    def project_list(self, request, user, **_):
        response = self.get_response(request)
        if response.status_code != 200:
            return response
        payload, mine = _json(response), _member_ids(user)
        rows = payload.get("results", []) if isinstance(payload, dict) else payload
        rows = [scrub.project(p) for p in rows if p.get("id") in mine]
        if isinstance(payload, dict):
            return _replace(response, {**payload, "results": rows, "count": len(rows),
                                       "next": None, "previous": None})
        return _replace(response, rows)

    def project_detail(self, request, user, pk, **_):
        if not _member(user, pk):
            return deny("not your project")
        response = self.get_response(request)
        return _scrubbed(response, scrub.project)

    def next_task(self, request, user, pk=None, **_):
        from projects.models import Project
        from tasks.serializers import NextTaskSerializer

        if pk is None:  # POST /api/dm/actions/?id=next_task&project=P (the label stream)
            if request.GET.get("id") != "next_task":
                return deny("not available to experts")
            pk = request.GET.get("project")
        if not _member(user, pk):
            return deny("not your project")
        project = Project.objects.get(id=int(pk))
        try:
            task = scheduler.next_task(user, project)
        except scheduler.HeldForReview:
            return deny("Your latest work is being checked; more tasks come in a minute or two", 404)
        if task is None:
            return deny("There are no more tasks for you in this project", 404)
        from projects.functions.stream_history import add_stream_history
        add_stream_history(task, user, project)  # the label stream's back button reads it
        from rest_framework.request import Request
        drf = Request(request, authenticators=[])
        drf.user = user
        context = {"request": drf, "project": project, "resolve_uri": True, "annotations": False}
        return JsonResponse(scrub.task(NextTaskSerializer(task, context=context).data,
                                       user.id, user.get_username()))

    def dm_actions(self, request, user, **_):
        if request.method == "GET":
            return JsonResponse([], safe=False)
        return self.next_task(request, user)

    def task_list(self, request, user, **_):
        """The data manager's table: an expert sees no list of tasks."""
        return JsonResponse({"tasks": [], "total": 0, "total_annotations": 0,
                             "total_predictions": 0})

    def task_detail(self, request, user, pk, **_):
        if scheduler.served(user, pk) is None:
            return deny("not a task served to you")
        response = self.get_response(request)
        return (_replace(response, scrub.task(_json(response), user.id, user.get_username()))
                if response.status_code == 200 else response)

    def task_annotations(self, request, user, pk, **_):
        serving = scheduler.served(user, pk)
        if serving is None:
            return deny("not a task served to you")
        if request.method == "GET":
            response = self.get_response(request)
            if response.status_code == 200:
                return _replace(response, [scrub.annotation(a) for a in
                                           scrub.own(_json(response), user.id, "completed_by")])
            return response
        body = _body(request)
        if isinstance(body, JsonResponse):
            return body
        if body.get("ground_truth"):
            return deny("experts cannot mark ground truth")
        if body.get("was_cancelled") or request.GET.get("was_cancelled") not in (None, "", "0", "false"):
            return deny("skipping is not allowed in this project")
        why = results.problem(serving.task.project, body.get("result"))
        if why:
            return deny(why, 400)
        if not serving.probe and scheduler.task_full(serving.task, user):  # probes go to all
            return deny("this task already has all its judgments; take the next one", 409)
        # claimed before Label Studio stores it: of two submissions at once, one wins
        lead_time = scheduler.claim_submission(serving)
        if lead_time is None:
            return deny("you have already submitted this task; edit your annotation instead", 409)
        clean = {k: body[k] for k in WRITE_KEYS if k in body}
        clean["lead_time"] = lead_time
        _rewrite_body(request, clean)
        response = self.get_response(request)
        if response.status_code != 201:
            scheduler.release_submission(serving)
            return response
        return _replace(response, scrub.annotation(_json(response)))

    def annotation_detail(self, request, user, pk, **_):
        from tasks.models import Annotation
        if not Annotation.objects.filter(id=pk, completed_by=user, project__members__user=user,
                                         project__members__enabled=True).exists():
            return deny("not your annotation")
        if request.method in ("PATCH", "PUT"):
            body = _body(request)
            if isinstance(body, JsonResponse):
                return body
            if body.get("ground_truth"):
                return deny("experts cannot mark ground truth")
            if "result" in body:
                ann = Annotation.objects.select_related("project").get(id=pk)
                why = results.problem(ann.project, body["result"])
                if why:
                    return deny(why, 400)
            _rewrite_body(request, {k: body[k] for k in WRITE_KEYS if k in body})
        response = self.get_response(request)
        return _scrubbed(response, scrub.annotation)

    def task_drafts(self, request, user, pk, **_):
        if scheduler.served(user, pk) is None:
            return deny("not a task served to you")
        if request.method == "POST":
            refused = _keep_only(request, DRAFT_KEYS)
            return refused or _scrubbed(self.get_response(request), scrub.draft, ok=201)
        response = self.get_response(request)
        return (_replace(response, [scrub.draft(d) for d in scrub.own_drafts(
            _json(response), user.id, user.get_username())]) if response.status_code == 200 else response)

    def annotation_drafts(self, request, user, pk, annotation_id, **_):
        from tasks.models import Annotation
        if not Annotation.objects.filter(id=annotation_id, task_id=pk, completed_by=user,
                                         project__members__user=user,
                                         project__members__enabled=True).exists():
            return deny("not your annotation")
        refused = _keep_only(request, DRAFT_KEYS)
        return refused or _scrubbed(self.get_response(request), scrub.draft, ok=201)

    def draft_detail(self, request, user, pk, **_):
        from tasks.models import AnnotationDraft
        if not AnnotationDraft.objects.filter(id=pk, user=user, task__project__members__user=user,
                                              task__project__members__enabled=True).exists():
            return deny("not your draft")
        if request.method in ("PATCH", "PUT") and (refused := _keep_only(request, DRAFT_KEYS)):
            return refused
        response = self.get_response(request)
        return _scrubbed(response, scrub.draft)

    # -- the data manager around the label stream ------------------------------------
    def dm_project(self, request, user, **_):
        """The project as the data manager polls it: no counters, no owner, no rights."""
        if not _member(user, _query_project(request)):
            return deny("not your project")
        response = self.get_response(request)
        return (_replace(response, scrub.dm_project(_json(response)))
                if response.status_code == 200 else response)

    def dm_columns(self, request, user, **_):
        """The table's columns: the task id and its data fields only (no annotators,
        counters, agreement or meta columns)."""
        if not _member(user, _query_project(request)):
            return deny("not your project")
        response = self.get_response(request)
        return (_replace(response, scrub.columns(_json(response)))
                if response.status_code == 200 else response)

    def view_list(self, request, user, **_):
        """The expert's own data-manager tabs in one of their projects."""
        from data_manager.models import View
        if request.method == "GET":
            pid = _query_project(request)
            if not _member(user, pid):
                return deny("not your project")
            response = self.get_response(request)
            if response.status_code != 200:
                return response
            mine = set(View.objects.filter(user=user, project_id=int(pid)).values_list("id", flat=True))
            payload = _json(response)
            rows = payload.get("results", []) if isinstance(payload, dict) else payload
            rows = [scrub.view(v) for v in rows if v.get("id") in mine]
            return _replace(response, {**payload, "results": rows, "count": len(rows)}
                            if isinstance(payload, dict) else rows)
        body = _body(request)
        if isinstance(body, JsonResponse):
            return body
        if not _member(user, body.get("project")):
            return deny("not your project")
        _rewrite_body(request, {"project": int(body["project"]),
                                **{k: body[k] for k in VIEW_KEYS if k in body}})
        response = self.get_response(request)  # Label Studio sets the view's user
        return _replace(response, scrub.view(_json(response))) if response.status_code == 201 else response

    def view_detail(self, request, user, pk, **_):
        from data_manager.models import View
        view = View.objects.filter(id=pk, user=user).first() if str(pk).isdigit() else None
        if view is None or not _member(user, view.project_id):
            return deny("not your tab")
        if request.method in ("PATCH", "PUT"):
            body = _body(request)
            if isinstance(body, JsonResponse):
                return body
            if body.get("project") not in (None, view.project_id, str(view.project_id)):
                return deny("a tab stays in its project")
            _rewrite_body(request, {"project": view.project_id,
                                    **{k: body[k] for k in VIEW_KEYS if k in body}})
        response = self.get_response(request)
        return _scrubbed(response, scrub.view)

    def nothing(self, request, user, **_):
        """An empty list where Label Studio would show organization-wide objects (ML
        backends, the labels manager): experts get none."""
        if request.GET.get("page") is not None or "page_size" in request.GET:
            return JsonResponse({"count": 0, "next": None, "previous": None, "results": []})
        return JsonResponse([], safe=False)

    def user_list(self, request, user, **_):
        from users.serializers import UserSimpleSerializer
        return JsonResponse([scrub.user(UserSimpleSerializer(user).data)], safe=False)

    def user_detail(self, request, user, pk, **_):
        if str(pk) != str(user.id):
            return deny("not available to experts")
        response = self.get_response(request)
        return _scrubbed(response, scrub.user)

    def whoami(self, request, user, **_):
        response = self.get_response(request)
        return _scrubbed(response, scrub.user)


def _rule(methods: str, handler: Callable[..., HttpResponse]) -> Rule:
    return Rule(frozenset(methods.split()), handler)


M = ExpertAccessMiddleware
#: every route an expert may use (by Label Studio's URL name), with its methods
RULES: dict[str, Rule] = {
    # pages
    "main": _rule("GET HEAD", M.passthrough),
    "user-login": _rule("GET HEAD POST", M.passthrough),
    "logout": _rule("GET HEAD POST", M.passthrough),
    "project-index": _rule("GET HEAD", M.passthrough),
    "project-data": _rule("GET HEAD", M.project_page),
    "health": _rule("GET HEAD", M.passthrough),
    "version": _rule("GET HEAD", M.passthrough),
    "api-version": _rule("GET HEAD", M.passthrough),
    # the labeling UI's API
    "project-list": _rule("GET", M.project_list),
    "project-detail": _rule("GET", M.project_detail),
    "project-next": _rule("GET", M.next_task),
    "dm-actions": _rule("GET POST", M.dm_actions),
    "task-list": _rule("GET", M.task_list),
    "task-detail": _rule("GET", M.task_detail),
    "task-annotations": _rule("GET POST", M.task_annotations),
    "annotation-detail": _rule("GET PATCH PUT", M.annotation_detail),
    "task-drafts": _rule("GET POST", M.task_drafts),
    "task-annotations-drafts": _rule("POST", M.annotation_drafts),
    "draft-detail": _rule("GET PATCH DELETE", M.draft_detail),
    "label-stream-history": _rule("GET", M.project_page),  # the expert's own stream
    # the data manager page the label stream lives in
    "dm-project": _rule("GET", M.dm_project),
    "dm-columns": _rule("GET", M.dm_columns),
    "view-list": _rule("GET POST", M.view_list),
    "view-detail": _rule("GET PATCH PUT", M.view_detail),
    "ml-list": _rule("GET", M.nothing),
    "label_link-list": _rule("GET", M.nothing),
    "user-list": _rule("GET", M.user_list),
    "user-detail": _rule("GET", M.user_detail),
    "current-user-whoami": _rule("GET", M.whoami),
}
