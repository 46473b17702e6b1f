"""The manager-only API annoflow calls (staff users; annoflow's own token).

    POST /api/annoflow/experts/                  {login, handle} -> {id, login, handle}
    POST /api/annoflow/experts/<id>/password/    {password}      -> 204
    GET  /api/annoflow/experts/?ids=1,2                           -> [{id, last_login}]
    PUT  /api/annoflow/projects/<id>/access/     {members, probes, gold_rate} -> 204
    GET  /api/annoflow/routes/                                    -> every URL route and what experts may do

An expert's user is created once per login (idempotent: a retried create finds it); it
carries only a login alias and a display handle, never a real name or email.
"""
from __future__ import annotations

import re

from django.db import transaction
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from rest_framework import status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from annoflow_ls.middleware import RULES, STATIC_PREFIXES
from annoflow_ls.models import Campaign, Probe


class ExpertsAPI(APIView):
    permission_classes = [IsAdminUser]

    def post(self, request):
        from users.models import User
        login, handle = str(request.data.get("login", "")), str(request.data.get("handle", ""))
        if "@" not in login or not handle:
            return Response({"detail": "login (an email-shaped alias) and handle are required"},
                            status=status.HTTP_400_BAD_REQUEST)
        org = request.user.active_organization
        with transaction.atomic():
            user = User.objects.filter(email__iexact=login).first()
            if user is None:
                user = User.objects.create_user(email=login, username=handle)
                user.set_unusable_password()
            elif user.is_staff or user.is_superuser:
                return Response({"detail": f"{login} is a staff user, not an expert"},
                                status=status.HTTP_409_CONFLICT)
            user.username, user.first_name, user.last_name = handle, handle, ""
            user.active_organization = org
            user.save()
            org.add_user(user)
        return Response({"id": user.id, "login": user.email, "handle": user.username},
                        status=status.HTTP_200_OK)

    def get(self, request):
        from users.models import User
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()]
        users = User.objects.filter(id__in=ids)
        return Response([{"id": u.id, "last_login": u.last_login} for u in users])


class ExpertPasswordAPI(APIView):
    permission_classes = [IsAdminUser]

    def post(self, request, pk: int):
        from users.models import User
        user = User.objects.filter(id=pk).first()
        if user is None or user.is_staff or user.is_superuser:
            return Response({"detail": "no such expert"}, status=status.HTTP_404_NOT_FOUND)
        password = str(request.data.get("password", ""))
        if len(password) < 12:
            return Response({"detail": "password too short"}, status=status.HTTP_400_BAD_REQUEST)
        user.set_password(password)
        user.last_login = None  # outstanding again until the expert signs in with it
        # a new password ends the expert's old sessions: Django checks each session's
        # password hash on every request
        user.save(update_fields=["password", "last_login"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectAccessAPI(APIView):
    permission_classes = [IsAdminUser]

    def put(self, request, pk: int):
        from projects.models import Project, ProjectMember
        from tasks.models import Task
        project = Project.objects.filter(id=pk).first()
        if project is None:
            return Response({"detail": "no such project"}, status=status.HTTP_404_NOT_FOUND)
        members = {int(i) for i in request.data.get("members", [])}
        probes = {int(i) for i in request.data.get("probes", [])}
        rate = float(request.data.get("gold_rate", 0.0))
        if not 0 <= rate <= 1:
            return Response({"detail": "gold_rate must be in [0, 1]"}, status=status.HTTP_400_BAD_REQUEST)
        foreign = probes - set(Task.objects.filter(project=project, id__in=probes).values_list("id", flat=True))
        if foreign:
            return Response({"detail": f"tasks {sorted(foreign)[:5]} are not in project {pk}"},
                            status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            Campaign.objects.update_or_create(project=project, defaults={"gold_rate": rate})
            for uid in members:
                ProjectMember.objects.update_or_create(project=project, user_id=uid,
                                                       defaults={"enabled": True})
            ProjectMember.objects.filter(project=project).exclude(user_id__in=members).update(enabled=False)
            Probe.objects.filter(project=project).exclude(task_id__in=probes).delete()
            have = set(Probe.objects.filter(project=project).values_list("task_id", flat=True))
            Probe.objects.bulk_create([Probe(project=project, task_id=t) for t in probes - have])
        return Response(status=status.HTTP_204_NO_CONTENT)


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p.name


def sample_path(pattern: str) -> str:
    """A concrete path for a URL pattern: regex groups and path converters become 1."""
    p = re.sub(r"\(\?P<\w+>[^)]*\)", "1", pattern)
    p = re.sub(r"<(?:\w+:)?\w+>", "1", p)
    p = re.sub(r"\([^)]*\)\??", "", p)
    p = p.replace("^", "").replace("$", "").replace("\\", "").replace("?", "")
    return "/" + p.lstrip("/")


def expert_methods(path: str) -> tuple[str | None, list[str]]:
    """What the middleware lets an expert do at ``path``: (URL name it resolves to, methods)."""
    if path.startswith(STATIC_PREFIXES):
        return None, ["GET", "HEAD"]  # the UI's own assets
    try:
        name = resolve(path).url_name
    except Resolver404:
        return None, []
    rule = RULES.get(name or "")
    return name, sorted(rule.methods) if rule else []


class RoutesAPI(APIView):
    """Every route of this server with a concrete path for it and what an expert may do
    there (by the route that path resolves to: some of Label Studio's patterns are
    unanchored), for the test that tries each one as an expert."""
    permission_classes = [IsAdminUser]

    def get(self, request):
        rows = []
        for pattern, name in _walk(get_resolver().url_patterns):
            path = sample_path(pattern)
            resolved, methods = expert_methods(path)
            rows.append({"pattern": pattern, "name": name, "sample_path": path,
                         "resolves_to": resolved, "expert_methods": methods})
        return Response({"routes": rows, "static_prefixes": list(STATIC_PREFIXES)})
