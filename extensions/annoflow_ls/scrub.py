"""What an expert may receive: task, annotation, draft, project and user payloads cut
down to the expert's own work, with nothing that tells gold from work."""
from __future__ import annotations

from typing import Any

#: the task fields the labeling UI reads; everything else (meta, overlap, counters,
#: timestamps, other annotators) is dropped
TASK_KEYS = ("id", "data", "annotations", "predictions", "drafts", "project")
#: project fields the label stream needs; counters, members and authorship are dropped
PROJECT_KEYS = (
    "id", "title", "label_config", "parsed_label_config", "expert_instruction",
    "show_instruction", "show_skip_button", "enable_empty_annotation",
    "show_annotation_history", "show_collab_predictions", "maximum_annotations",
    "color", "control_weights", "config_has_control_tags", "skip_queue",
    "reveal_preannotations_interactively", "show_ground_truth_first", "sampling",
    "show_overlap_first", "is_published", "is_draft", "model_version", "min_annotations_to_start_training",
    "pinned_at", "config_suggested", "annotation_limit_count", "annotation_limit_percent",
    "pause_on_failed_annotator_evaluation", "custom_task_lock_ttl", "review_settings",
    "require_comment_on_skip", "workspace", "allow_stream", "blueprints",
)
USER_KEYS = ("id", "username", "email", "first_name", "last_name", "avatar", "initials",
             "active_organization", "allow_newsletters", "lang", "phone", "date_joined",
             "last_activity", "customHotkeys", "custom_hotkeys", "org_membership")


def own(items: list[dict[str, Any]] | None, user_id: int, key: str) -> list[dict[str, Any]]:
    """The entries of ``items`` that belong to ``user_id`` (by ``key``, an id or an object)."""
    out = []
    for it in items or []:
        who = it.get(key)
        who = who.get("id") if isinstance(who, dict) else who
        if who == user_id:
            out.append(it)
    return out


def own_drafts(items: list[dict[str, Any]] | None, user_id: int,
               user_name: str | None = None) -> list[dict[str, Any]]:
    """The drafts of ``items`` that are the user's: Label Studio serializes a draft's
    ``user`` as the user's name (their login email), not their id."""
    return [d for d in items or [] if d.get("user") is not None
            and d.get("user") in (user_id, user_name)]


def task(payload: dict[str, Any], user_id: int, user_name: str | None = None) -> dict[str, Any]:
    out = {k: payload[k] for k in TASK_KEYS if k in payload}
    out["annotations"] = [annotation(a) for a in own(payload.get("annotations"), user_id, "completed_by")]
    out["drafts"] = [draft(d) for d in own_drafts(payload.get("drafts"), user_id, user_name)]
    out["predictions"] = []
    return out


def annotation(payload: dict[str, Any]) -> dict[str, Any]:
    """An expert's own annotation, without what the server keeps about the task."""
    drop = ("task_meta", "prediction", "parent_prediction", "import_id", "last_action",
            "last_created_by")
    return {k: v for k, v in payload.items() if k not in drop}


def project(payload: dict[str, Any]) -> dict[str, Any]:
    out = {k: payload[k] for k in PROJECT_KEYS if k in payload}
    out["maximum_annotations"] = 1  # the real overlap is not the expert's business
    return out


def user(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in USER_KEYS if k in payload}


#: what the data manager reads besides the project: no rights to manage, nothing syncing
DM_PROJECT_FLAGS = {"can_delete_tasks": False, "can_manage_annotations": False,
                    "can_manage_tasks": False, "source_syncing": False, "target_syncing": False}
VIEW_KEYS = ("id", "project", "user", "order", "data")
DRAFT_DROP = ("import_id", "state")


def dm_project(payload: dict[str, Any]) -> dict[str, Any]:
    """The data manager's project state: the project as ``project`` cuts it, without the
    task, annotation and prediction counters (they tell the campaign's size and
    progress, and gold from work)."""
    return {**project(payload), **DM_PROJECT_FLAGS}


def columns(payload: dict[str, Any]) -> dict[str, Any]:
    """The data manager's columns: the task id and the task's data fields only."""
    cols = [c for c in (payload or {}).get("columns", [])
            if c.get("id") in ("id", "data") and c.get("target") == "tasks"
            or c.get("parent") == "data"]
    return {"columns": cols}


def view(payload: dict[str, Any]) -> dict[str, Any]:
    """One of the expert's own data-manager tabs."""
    return {k: payload[k] for k in VIEW_KEYS if k in payload}


def draft(payload: dict[str, Any]) -> dict[str, Any]:
    """One of the expert's own drafts."""
    return {k: v for k, v in (payload or {}).items() if k not in DRAFT_DROP}
