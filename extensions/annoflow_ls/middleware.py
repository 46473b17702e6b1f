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

from annoflow_ls import scheduler, scrub

#: static assets of the UI (no URL name): GET only
STATIC_PREFIXES = ("/static/", "/react-app/", "/label-studio-frontend/", "/dm/",
                   "/favicon.ico", "/sw.js", "/sw-fallback.js")
CLOSED_PREFIXES = ("/user/signup",)
WRITE_KEYS = ("result", "draft_id")  # what an expert's submission may carry


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


def _member(user: Any, project_id: Any) -> bool:
    from projects.models import ProjectMember
    try:
        pid = int(project_id)
    except (TypeError, ValueError):
        return False
    return ProjectMember.objects.filter(user=user, project_id=pid, enabled=True).exists()


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
        return _replace(response, scrub.project(_json(response))) if response.status_code == 200 else response

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
        task = scheduler.next_task(user, project)
        if task is None:
            return deny("There are no more tasks for you in this project", 404)
        from rest_framework.request import Request
        drf = Request(request, authenticators=[])
        drf.user = user
        context = {"request": drf, "project": project, "resolve_uri": True, "annotations": False}
        return JsonResponse(scrub.task(NextTaskSerializer(task, context=context).data, user.id))

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
        return _replace(response, scrub.task(_json(response), user.id)) if response.status_code == 200 else response

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
        if serving.submitted_at is not None:
            return deny("you have already submitted this task; edit your annotation instead", 409)
        clean = {k: body[k] for k in WRITE_KEYS if k in body}
        clean["lead_time"] = (timezone.now() - serving.served_at).total_seconds()
        _rewrite_body(request, clean)
        response = self.get_response(request)
        if response.status_code == 201:
            scheduler.mark_submitted(serving)
            return _replace(response, scrub.annotation(_json(response)))
        return response

    def annotation_detail(self, request, user, pk, **_):
        from tasks.models import Annotation
        if not Annotation.objects.filter(id=pk, completed_by=user).exists():
            return deny("not your annotation")
        if request.method in ("PATCH", "PUT"):
            body = _body(request)
            if isinstance(body, JsonResponse):
                return body
            if body.get("ground_truth"):
                return deny("experts cannot mark ground truth")
            _rewrite_body(request, {k: body[k] for k in WRITE_KEYS if k in body})
        response = self.get_response(request)
        return _replace(response, scrub.annotation(_json(response))) if response.status_code == 200 else response

    def task_drafts(self, request, user, pk, **_):
        if scheduler.served(user, pk) is None:
            return deny("not a task served to you")
        if request.method == "POST":
            body = _body(request)
            if isinstance(body, JsonResponse):
                return body
            _rewrite_body(request, {k: body[k] for k in ("result", "lead_time", "was_postponed")
                                    if k in body})
            return self.get_response(request)
        response = self.get_response(request)
        return _replace(response, scrub.own(_json(response), user.id, "user")) if response.status_code == 200 else response

    def annotation_drafts(self, request, user, pk, annotation_id, **_):
        from tasks.models import Annotation
        if not Annotation.objects.filter(id=annotation_id, task_id=pk, completed_by=user).exists():
            return deny("not your annotation")
        return self.get_response(request)

    def draft_detail(self, request, user, pk, **_):
        from tasks.models import AnnotationDraft
        if not AnnotationDraft.objects.filter(id=pk, user=user).exists():
            return deny("not your draft")
        return self.get_response(request)

    def user_list(self, request, user, **_):
        from users.serializers import UserSimpleSerializer
        return JsonResponse([scrub.user(UserSimpleSerializer(user).data)], safe=False)

    def user_detail(self, request, user, pk, **_):
        if str(pk) != str(user.id):
            return deny("not available to experts")
        response = self.get_response(request)
        return _replace(response, scrub.user(_json(response))) if response.status_code == 200 else response

    def whoami(self, request, user, **_):
        response = self.get_response(request)
        return _replace(response, scrub.user(_json(response))) if response.status_code == 200 else response


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
    "label-stream-history": _rule("GET", M.project_page),
    "user-list": _rule("GET", M.user_list),
    "user-detail": _rule("GET", M.user_detail),
    "current-user-whoami": _rule("GET", M.whoami),
}
