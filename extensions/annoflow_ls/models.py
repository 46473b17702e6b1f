"""What the extension keeps in Label Studio's database (its own tables)."""
from django.conf import settings
from django.db import models


#: how long an open serving locks its task for its expert, unless the campaign says
SERVING_TTL_S = 7200.0


class Campaign(models.Model):
    """annoflow's settings for one project: how often hidden gold probes come, how long a
    served task stays its expert's, and how far an expert may work ahead of live QC."""
    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE,
                                   related_name="annoflow_campaign")
    gold_rate = models.FloatField(default=0.0)
    serving_ttl_s = models.FloatField(default=SERVING_TTL_S)
    #: an expert with this many submissions more than live QC has reviewed is served nothing
    #: until the next review (None: no limit)
    review_window = models.IntegerField(null=True, default=None)
    #: submissions reviewed so far, by user id (as a string: JSON keys)
    reviewed = models.JSONField(default=dict)


class Removal(models.Model):
    """An expert removed from a project for quality: their judgments there no longer count."""
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE,
                                related_name="annoflow_removals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="annoflow_removals")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_removal_per_project_user")]


class Probe(models.Model):
    """A hidden gold task: served by the scheduler on its own rhythm, never by the queue."""
    task = models.OneToOneField("tasks.Task", on_delete=models.CASCADE,
                                related_name="annoflow_probe")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE,
                                related_name="annoflow_probes")


class Serving(models.Model):
    """One task served to one expert: when (the server's clock) and when submitted."""
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="annoflow_servings")
    task = models.ForeignKey("tasks.Task", on_delete=models.CASCADE,
                             related_name="annoflow_servings")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE,
                                related_name="annoflow_servings")
    probe = models.BooleanField(default=False)
    served_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "task"], name="one_serving_per_expert_task")]
        indexes = [models.Index(fields=["project", "user"]), models.Index(fields=["task", "submitted_at"])]


class Bar(models.Model):
    """An expert who is never served the project's task of ``ref`` (its ``meta.ref``): the
    reviewer whose rejection it is the second look at (a second review is someone
    else's). By ref, so that the bar holds from before the task is imported."""
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE,
                                related_name="annoflow_bars")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="annoflow_bars")
    ref = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "ref", "user"],
                                               name="one_bar_per_ref_user")]
        indexes = [models.Index(fields=["project", "user"], name="annoflow_bar_project_user")]


class Twin(models.Model):
    """A swap probe: an item's pair shown the other way round, a task of its own served only
    to the experts who submitted its ``original``, a few tasks later, once each."""
    task = models.OneToOneField("tasks.Task", on_delete=models.CASCADE,
                                related_name="annoflow_twin")
    original = models.ForeignKey("tasks.Task", on_delete=models.CASCADE,
                                 related_name="annoflow_twins")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE,
                                related_name="annoflow_twin_probes")
