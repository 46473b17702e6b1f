"""The next task for an expert: work that still needs judgments, with hidden gold probes
mixed into each expert's stream at the campaign's gold rate.

Rules, in order:
1. an open serving (served, not submitted, within the campaign's ``serving_ttl_s``) comes
   back as is;
2. nothing is served when no work is left for this expert (gold never holds a campaign),
   nor while the expert is ``review_window`` submissions ahead of what live QC has
   reviewed (``HeldForReview``): a fast clicker cannot outrun the campaign's ticks;
3. a gold probe is due when the expert's probes so far are fewer than
   ``floor((n + 1) * rate + phase)``, ``n`` being the tasks served to them so far and
   ``phase`` a per-expert offset in [0, 1): gold comes evenly through every stream, at
   different positions for different experts, and late arrivals are treated alike;
4. otherwise a swap probe (``Twin``: an item's pair the other way round) when one is due:
   one whose item the expert submitted at least ``TWIN_GAP`` servings ago, never served
   to them before (the oldest first); like gold, swap probes never hold a campaign;
5. otherwise the work task with the most judgments already (to finish items), then the
   lowest id, among those the expert has not seen and is not barred from (``Bar``)
   whose judgments plus open servings by others are under the task's overlap. Judgments
   (and submitted servings) of experts removed from the project for quality do not
   count: their tasks are served again.

Choosing is serialized: a row lock on the project (PostgreSQL: per project), an immediate
transaction (SQLite: the whole database, see ``settings``) and a lock per process. Label Studio's own queue is
not transactional on SQLite.
"""
from __future__ import annotations

import hashlib
import math
import random
import threading
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from annoflow_ls.models import SERVING_TTL_S, Bar, Campaign, Probe, Removal, Serving, Twin

_choose = threading.Lock()


class HeldForReview(Exception):
    """The expert is as far ahead of live QC as the campaign allows; more after its review."""


def _phase(user_id: int, project_id: int) -> float:
    digest = hashlib.sha256(f"phase|{project_id}|{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


def _cut(campaign: Campaign | None) -> datetime:
    """Open servings from before this time no longer lock their task."""
    ttl = campaign.serving_ttl_s if campaign is not None else SERVING_TTL_S
    return timezone.now() - timedelta(seconds=ttl)


def removed_ids(project_id: int) -> list[int]:
    """The experts removed from the project for quality."""
    return list(Removal.objects.filter(project_id=project_id).values_list("user_id", flat=True))


def _open(user, project, cut):
    return (Serving.objects.filter(user=user, project=project, submitted_at__isnull=True,
                                   served_at__gt=cut).select_related("task").first())


def _work(user, project, cut):
    from tasks.models import Annotation, Task

    done = Q(annotations__was_cancelled=False)
    sub = Q(annoflow_servings__submitted_at__isnull=False)
    removed = removed_ids(project.id)
    if removed:
        done &= ~Q(annotations__completed_by__in=removed)
        sub &= ~Q(annoflow_servings__user__in=removed)
    mine = Serving.objects.filter(user=user, project=project).values("task_id")
    judged = Annotation.objects.filter(project=project, completed_by=user).values("task_id")
    probes = Probe.objects.filter(project=project).values("task_id")
    twins = Twin.objects.filter(project=project).values("task_id")
    barred = list(Bar.objects.filter(project=project, user=user).values_list("ref", flat=True))
    return (Task.objects.filter(project=project)
            .exclude(id__in=probes).exclude(id__in=twins).exclude(id__in=mine)
            .exclude(id__in=judged).exclude(meta__ref__in=barred)
            .annotate(n_done=Count("annotations__completed_by", filter=done, distinct=True),
                      # claimed submissions whose annotation may not be committed yet
                      n_sub=Count("annoflow_servings", filter=sub, distinct=True),
                      n_open=Count("annoflow_servings",
                                   filter=Q(annoflow_servings__submitted_at__isnull=True,
                                            annoflow_servings__served_at__gt=cut), distinct=True))
            .annotate(n_taken=Greatest("n_done", "n_sub") + F("n_open"))
            .filter(n_taken__lt=F("overlap"))
            .order_by("-n_done", "id").first())


def _probe(user, project, n_served: int):
    served = Serving.objects.filter(user=user, project=project).values("task_id")
    ids = list(Probe.objects.filter(project=project).exclude(task_id__in=served)
               .values_list("task_id", flat=True))
    if not ids:
        return None
    from tasks.models import Task
    rng = random.Random(f"probe|{project.id}|{user.id}|{n_served}")
    return Task.objects.get(id=rng.choice(sorted(ids)))


#: tasks served to an expert between an item they submitted and its swap probe
TWIN_GAP = 3


def _twin(user, project):
    """The swap probe due for ``user``: the oldest whose item they submitted at least
    ``TWIN_GAP`` servings ago and that was never served to them."""
    mine = Serving.objects.filter(user=user, project=project)
    recent = list(mine.order_by("-served_at", "-id").values_list("task_id", flat=True)[:TWIN_GAP])
    done = mine.filter(submitted_at__isnull=False).exclude(task_id__in=recent).values("task_id")
    twin = (Twin.objects.filter(project=project, original_id__in=done)
            .exclude(task_id__in=mine.values("task_id")).order_by("id").first())
    return twin.task if twin is not None else None


def next_task(user, project):
    """The task to serve ``user`` next in ``project`` (recorded as served), or None;
    HeldForReview while their work waits for live QC."""
    from projects.models import Project, ProjectMember

    with _choose, transaction.atomic():
        Project.objects.select_for_update().filter(id=project.id).first()
        if not ProjectMember.objects.filter(user=user, project=project, enabled=True).exists():
            return None  # removed or released since the request was let in
        campaign = Campaign.objects.filter(project=project).first()
        cut = _cut(campaign)
        current = _open(user, project, cut)
        if current is not None and not _answered(user, current.task_id):
            return current.task
        if current is not None:  # stored, though Label Studio answered with an error
            Serving.objects.filter(id=current.id).update(submitted_at=timezone.now())
        Serving.objects.filter(user=user, project=project, submitted_at__isnull=True).delete()
        if campaign is not None and campaign.review_window:  # (live QC sees no swap probes)
            done = Serving.objects.filter(user=user, project=project,
                                          submitted_at__isnull=False).exclude(
                task_id__in=Twin.objects.filter(project=project).values("task_id")).count()
            if done >= int(campaign.reviewed.get(str(user.id), 0)) + campaign.review_window:
                raise HeldForReview()
        work = _work(user, project, cut)
        if work is None:
            return None
        mine = Serving.objects.filter(user=user, project=project)
        n, g = mine.count(), mine.filter(probe=True).count()
        rate = campaign.gold_rate if campaign is not None else 0.0
        chosen, is_probe = work, False
        if rate > 0 and g < math.floor((n + 1) * rate + _phase(user.id, project.id)):
            probe = _probe(user, project, n)
            if probe is not None:
                chosen, is_probe = probe, True
        if not is_probe:
            chosen = _twin(user, project) or work
        Serving.objects.create(user=user, task=chosen, project=project, probe=is_probe,
                               served_at=timezone.now())
        return chosen


def _answered(user, task_id: int) -> bool:
    from tasks.models import Annotation
    return Annotation.objects.filter(task_id=task_id, completed_by=user).exists()


def served(user, task_id: int) -> Serving | None:
    """The expert's serving of the task, while they are an enabled member of its project."""
    return (Serving.objects.filter(user=user, task_id=task_id, project__members__user=user,
                                   project__members__enabled=True)
            .select_related("task__project").first())


def claim_submission(serving: Serving) -> float | None:
    """Mark the serving submitted, once: returns the lead time in seconds by the server's
    clock, or None when it was already submitted (a second or concurrent submission)."""
    now = timezone.now()
    if _answered(serving.user_id, serving.task_id):
        return None
    won = Serving.objects.filter(id=serving.id, submitted_at__isnull=True).update(submitted_at=now)
    return round((now - serving.served_at).total_seconds(), 3) if won else None


def release_submission(serving: Serving) -> None:
    """Label Studio answered with an error: the task is open to the expert again, unless
    the annotation was stored all the same (its create is not one transaction)."""
    if not _answered(serving.user_id, serving.task_id):
        Serving.objects.filter(id=serving.id).update(submitted_at=None)


def task_full(task, user) -> bool:
    """Whether others (not removed for quality) have already given ``task`` all its judgments
    (a serving that outlived the campaign's ``serving_ttl_s`` may have been served again
    meanwhile). A swap probe is never full: it goes to everyone who judged its item."""
    from tasks.models import Annotation
    if Twin.objects.filter(task=task).exists():
        return False
    others = (Annotation.objects.filter(task=task, was_cancelled=False).exclude(completed_by=user)
              .exclude(completed_by__in=removed_ids(task.project_id))
              .values("completed_by").distinct().count())
    return others >= task.overlap
