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


def task(payload: dict[str, Any], user_id: int) -> dict[str, Any]:
    out = {k: payload[k] for k in TASK_KEYS if k in payload}
    out["annotations"] = [annotation(a) for a in own(payload.get("annotations"), user_id, "completed_by")]
    out["drafts"] = own(payload.get("drafts"), user_id, "user")
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
