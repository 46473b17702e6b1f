"""The manager-only API annoflow calls (staff users; annoflow's own token).

    POST /api/annoflow/experts/                  {login, handle} -> {id, login, handle}
    POST /api/annoflow/experts/<id>/password/    {password}      -> 204
    GET  /api/annoflow/experts/?ids=1,2                           -> [{id, last_login}]
    PUT  /api/annoflow/projects/<id>/access/     {members, probes, gold_rate,
                                                  removed?, serving_ttl_s?,
                                                  barred?: {ref: [user]},
                                                  twins?: {probe task: item task}} -> 204
    PUT  /api/annoflow/projects/<id>/review/     {window, reviewed: {user: n}}  -> 204
    PUT  /api/annoflow/projects/<id>/overlap/    {overlaps: {task: n}}          -> 204
    GET  /api/annoflow/projects/<id>/activity/                    -> [{user, open_task, open_since,
                                                                       last_active, submitted}]
    GET  /api/annoflow/routes/                                    -> every URL route and what experts may do

An expert's user is created once per login (idempotent: a retried create finds it); it
carries only a login alias and a display handle, never a real name or email.

A project's access is its whole desired state: the enabled members are ``members`` less
``removed`` (experts removed for quality: their judgments stop counting and their tasks
are served again until enough others judge them); anyone else loses their open servings
at once, so the tasks they held go to others. ``barred``: tasks (by ``meta.ref``, imported
yet or not) never served to the users named (a reviewer is not served the second look at
their own rejection). ``twins``: swap
probes, each served only to the experts who submitted its item's task (see ``scheduler``).
``probes``, ``removed``, ``serving_ttl_s``, ``barred`` and ``twins`` are kept as they are
when the body leaves them out (or ``probes`` is null).
"""
from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Count, Max, Q
from django.urls import Resolver404, URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from rest_framework import status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from annoflow_ls.middleware import RULES, STATIC_PREFIXES
from annoflow_ls.models import Bar, Campaign, Probe, Removal, Serving, Twin


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
        from users.models import User
        project = Project.objects.filter(id=pk).first()
        if project is None:
            return Response({"detail": "no such project"}, status=status.HTTP_404_NOT_FOUND)
        members = {int(i) for i in request.data.get("members", [])}
        probes = ({int(i) for i in request.data["probes"]} if request.data.get("probes") is not None
                  else set(Probe.objects.filter(project=project).values_list("task_id", flat=True)))
        rate = float(request.data.get("gold_rate", 0.0))
        if not 0 <= rate <= 1:
            return Response({"detail": "gold_rate must be in [0, 1]"}, status=status.HTTP_400_BAD_REQUEST)
        removed = ({int(i) for i in request.data["removed"]} if "removed" in request.data
                   else set(Removal.objects.filter(project=project).values_list("user_id", flat=True)))
        unknown = removed - set(User.objects.filter(id__in=removed).values_list("id", flat=True))
        if unknown:
            return Response({"detail": f"users {sorted(unknown)[:5]} do not exist"},
                            status=status.HTTP_400_BAD_REQUEST)
        fields = {"gold_rate": rate}
        if "serving_ttl_s" in request.data:
            fields["serving_ttl_s"] = float(request.data["serving_ttl_s"])
            if not fields["serving_ttl_s"] > 0:
                return Response({"detail": "serving_ttl_s must be positive"},
                                status=status.HTTP_400_BAD_REQUEST)
        try:
            barred = ({(str(r), int(u)) for r, users in dict(request.data["barred"]).items()
                       for u in users} if request.data.get("barred") is not None else None)
        except (TypeError, ValueError):
            return Response({"detail": "barred must be a map of task ref to a list of user ids"},
                            status=status.HTTP_400_BAD_REQUEST)
        try:
            twins = ({int(t): int(o) for t, o in dict(request.data["twins"]).items()}
                     if request.data.get("twins") is not None else None)
        except (TypeError, ValueError):
            return Response({"detail": "twins must be a map of probe task id to item task id"},
                            status=status.HTTP_400_BAD_REQUEST)
        tasks = probes | set(twins or {}) | set((twins or {}).values())
        foreign = tasks - set(Task.objects.filter(project=project, id__in=tasks).values_list("id", flat=True))
        if foreign:
            return Response({"detail": f"tasks {sorted(foreign)[:5]} are not in project {pk}"},
                            status=status.HTTP_400_BAD_REQUEST)
        enabled = members - removed
        with transaction.atomic():
            # the scheduler's lock: no expert is served while the roster changes
            Project.objects.select_for_update().filter(id=project.id).first()
            Campaign.objects.update_or_create(project=project, defaults=fields)
            Removal.objects.filter(project=project).exclude(user_id__in=removed).delete()
            have = set(Removal.objects.filter(project=project).values_list("user_id", flat=True))
            Removal.objects.bulk_create([Removal(project=project, user_id=u, at=timezone.now())
                                         for u in removed - have], ignore_conflicts=True)
            for uid in enabled:
                ProjectMember.objects.update_or_create(project=project, user_id=uid,
                                                       defaults={"enabled": True})
            ProjectMember.objects.filter(project=project).exclude(user_id__in=enabled).update(enabled=False)
            # removed or released: the tasks they held go to others now
            Serving.objects.filter(project=project, submitted_at__isnull=True).exclude(
                user_id__in=enabled).delete()
            Probe.objects.filter(project=project).exclude(task_id__in=probes).delete()
            have = set(Probe.objects.filter(project=project).values_list("task_id", flat=True))
            Probe.objects.bulk_create([Probe(project=project, task_id=t) for t in probes - have])
            if barred is not None:
                Bar.objects.filter(project=project).delete()
                Bar.objects.bulk_create([Bar(project=project, ref=r, user_id=u) for r, u in barred])
                # a barred task held open goes back to the others
                for r, u in barred:
                    Serving.objects.filter(project=project, task__meta__ref=r, user_id=u,
                                           submitted_at__isnull=True).delete()
            if twins is not None:
                Twin.objects.filter(project=project).exclude(task_id__in=twins).delete()
                have = set(Twin.objects.filter(project=project).values_list("task_id", flat=True))
                Twin.objects.bulk_create([Twin(project=project, task_id=t, original_id=o)
                                          for t, o in twins.items() if t not in have])
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectReviewAPI(APIView):
    """What live QC has reviewed: each expert's submissions it has looked at, and how many
    more they may make before the next review (``window``; null or 0: no limit)."""
    permission_classes = [IsAdminUser]

    def put(self, request, pk: int):
        from projects.models import Project
        if not Project.objects.filter(id=pk).exists():
            return Response({"detail": "no such project"}, status=status.HTTP_404_NOT_FOUND)
        try:
            window = request.data.get("window")
            window = int(window) if window else None
            reviewed = {str(int(u)): int(n) for u, n in dict(request.data.get("reviewed", {})).items()}
        except (TypeError, ValueError):
            return Response({"detail": "window must be an integer; reviewed a map of user id "
                                       "to count"}, status=status.HTTP_400_BAD_REQUEST)
        if (window is not None and window < 0) or any(n < 0 for n in reviewed.values()):
            return Response({"detail": "window and counts must not be negative"},
                            status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            camp, _ = Campaign.objects.select_for_update().get_or_create(project_id=pk)
            # counts only grow: a review read from an older sync does not undo a newer one
            merged = {**camp.reviewed, **{u: max(n, int(camp.reviewed.get(u, 0)))
                                           for u, n in reviewed.items()}}
            Campaign.objects.filter(id=camp.id).update(review_window=window, reviewed=merged)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectOverlapAPI(APIView):
    """Judgments some of the project's tasks need (dynamic overlap), in one statement per
    value: Label Studio's own task PATCH is one request per task. Only overlaps are set;
    ``is_labeled`` is not recomputed (annoflow's scheduler counts judgments itself)."""
    permission_classes = [IsAdminUser]

    def put(self, request, pk: int):
        from projects.models import Project
        from tasks.models import Task
        if not Project.objects.filter(id=pk).exists():
            return Response({"detail": "no such project"}, status=status.HTTP_404_NOT_FOUND)
        try:
            overlaps = {int(t): int(n) for t, n in dict(request.data.get("overlaps", {})).items()}
        except (TypeError, ValueError):
            return Response({"detail": "overlaps must map task ids to judgment counts"},
                            status=status.HTTP_400_BAD_REQUEST)
        if any(n < 1 for n in overlaps.values()):
            return Response({"detail": "an overlap is at least 1"},
                            status=status.HTTP_400_BAD_REQUEST)
        ours = set(Task.objects.filter(project_id=pk, id__in=list(overlaps))
                   .values_list("id", flat=True))
        if missing := sorted(set(overlaps) - ours):
            return Response({"detail": f"not tasks of project {pk}: {missing[:10]}"},
                            status=status.HTTP_400_BAD_REQUEST)
        with transaction.atomic():
            for n in sorted(set(overlaps.values())):
                Task.objects.filter(project_id=pk, id__in=[t for t, m in overlaps.items()
                                                           if m == n]).update(overlap=n)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ProjectActivityAPI(APIView):
    """When each expert ever served in the project was last active and what they hold."""
    permission_classes = [IsAdminUser]

    def get(self, request, pk: int):
        from projects.models import Project
        if not Project.objects.filter(id=pk).exists():
            return Response({"detail": "no such project"}, status=status.HTTP_404_NOT_FOUND)
        servings = Serving.objects.filter(project_id=pk)
        held = {s.user_id: s for s in servings.filter(submitted_at__isnull=True).order_by("served_at")}
        rows = (servings.values("user_id").order_by("user_id")
                .annotate(served=Max("served_at"), sub=Max("submitted_at"),
                          n=Count("id", filter=Q(submitted_at__isnull=False))))
        out = []
        for r in rows:
            open_ = held.get(r["user_id"])
            last = max(t for t in (r["served"], r["sub"]) if t is not None)
            out.append({"user": r["user_id"], "open_task": open_.task_id if open_ else None,
                        "open_since": open_.served_at.isoformat() if open_ else None,
                        "last_active": last.isoformat(), "submitted": r["n"]})
        return Response(out)


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
