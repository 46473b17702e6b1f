"""What a delivery contains: the model-ready view, the judgments table, the dataset card
and the manifest (pure builders; tasks/delivery.py writes them)."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from annoflow import __version__
from annoflow.identity import client_key
from annoflow.records import DELIVERED_ANNOTATION_SCHEMA
from annoflow.results import QCStats
from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type


def pseudonym(expert_id: str, *, client: str, key: bytes) -> str:
    """A stable per-client pseudonym: the same expert gets different ids at different clients."""
    return "ann-" + hmac.new(key, f"{client_key(client)}\x00{expert_id}".encode(),
                             hashlib.sha256).hexdigest()[:12]


def model_views(spec: RequestSpec, items: pd.DataFrame, outcome: pd.DataFrame, *,
                key: bytes) -> list[tuple[str, pa.Table]]:
    """The task type's model-ready views as (name, table), primary first. Free-text
    outcomes name their authors by per-client pseudonym."""
    tt = get_task_type(spec.task.type)
    if "worker" in outcome.columns:
        outcome = outcome.assign(annotator=outcome["worker"].map(
            lambda w: pseudonym(w, client=spec.client, key=key))).drop(columns=["worker"])
    views = tt.delivery_views(spec.task, items[~items["is_gold"]], outcome)
    return [(v.name, pa.Table.from_pandas(v.table, preserve_index=False)) for v in views]


def pseudonymized(value: Any, names: dict[str, str]) -> Any:
    """``value`` (JSON-like) with every string that is a pool id replaced by its pseudonym."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, dict):
        return {names.get(k, k): pseudonymized(v, names) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [pseudonymized(v, names) for v in value]
    return value


def judgments_table(judgments: pd.DataFrame, judged: pd.DataFrame, *, client: str,
                    key: bytes) -> pa.Table:
    """One row per judgment (per field) with a pseudonymous annotator id, lead time and
    QC flags. ``judged``: the raw rows that count (one per expert per item)."""
    created = judged.set_index(
        ["item_id", "expert_id"])["created_at"]
    names = {w: pseudonym(w, client=client, key=key) for w in judgments["worker"].unique()}
    df = pd.DataFrame({
        "item_id": judgments["task"].astype(str).to_numpy(),
        "annotator": judgments["worker"].map(names).to_numpy(),
        "field": judgments["field"].astype(str).to_numpy(),
        "label": judgments["label"].astype(str).to_numpy(),
        "lead_time_s": judgments["lead_time_s"].astype("float64").to_numpy(),
        "is_gold": judgments["is_gold"].astype(bool).to_numpy(),
        "excluded": judgments["excluded"].astype(bool).to_numpy(),
        "exclusion_reason": judgments["exclusion_reason"].to_numpy(),
        "text_flag": (judgments["flag"] if "flag" in judgments else
                      pd.Series(None, index=judgments.index, dtype=object)).to_numpy(),
        "created_at": created.reindex(pd.MultiIndex.from_arrays(
            [judgments["task"], judgments["worker"]])).to_numpy(),
    }).sort_values(["item_id", "annotator", "field"], kind="stable")
    return pa.Table.from_pandas(df, schema=DELIVERED_ANNOTATION_SCHEMA, preserve_index=False)


def _shown(x: float | None) -> str:
    """A figure as people read it (the manifest keeps it at full precision)."""
    return "n/a" if x is None else f"{x:.4f}"


def dataset_card(spec: RequestSpec, version: int, qc: QCStats,
                 views: list[tuple[str, str, int]]) -> str:
    files = "\n".join(f"- `{path}`: the `{name}` view, {rows} rows" for name, path, rows in views)
    return f"""# {spec.title}

Request `{spec.request_id}` for {spec.client}, version v{version}. Task type: `{spec.task.type}`.
Domain: {spec.domain}. Produced by annoflow {__version__}.

## Files
{files}
  (load with `datasets.load_dataset("parquet", data_files=...)` or pandas; the first is the
  primary model-ready view, see the task types in the annoflow README)
- `annotations.parquet`: every judgment, with pseudonymous annotator ids, lead time and QC flags
  (`excluded`, `exclusion_reason`).
- `qc_report.html`: annotators' gold accuracy and speed, confidence of the labels, every check.
- `manifest.json`: sizes, SHA-256 checksums and row counts of the files, and the QC figures. The
  version is complete only if the manifest exists.

## Quality control
- Krippendorff's alpha ({qc.agreement_level}): {_shown(qc.krippendorff_alpha)}
- Annotators: {qc.annotators}, excluded: {qc.annotators_excluded}
- Judgments kept: {qc.judgments_kept} of {qc.judgments}
- Items delivered: {qc.items_delivered}; unresolved: {qc.items_unresolved}
- Aggregation: {spec.qc.aggregation if not get_task_type(spec.task.type).free_text else "none (free text: automatic checks)"}
"""


class ManifestFile(BaseModel):
    path: str                 # in the version
    bytes: int
    sha256: str
    rows: int | None          # tables only
    view: str | None          # the model-ready view it holds, if one


class ExcludedAnnotator(BaseModel):
    annotator: str            # the pseudonym
    reason: str


class VersionChanges(BaseModel):
    """What a version changes in the primary view since the one before (by item_id)."""
    previous_version: int | None
    items_added: int
    items_changed: int
    items_removed: int
    judgments_added: int


class Manifest(BaseModel):
    """``manifest.json``: written last; a version is complete once it exists."""
    request_id: str
    client: str
    title: str
    version: int
    final: bool = True
    changes: VersionChanges | None = None
    task_type: str
    created_at: str
    annoflow_version: str
    files: list[ManifestFile]
    qc: QCStats
    excluded_annotators: list[ExcludedAnnotator]
    lineage: dict[str, Any]   # spec_sha256, and every check as the client may see it

    @classmethod
    def of(cls, spec: RequestSpec, *, version: int, files: list[ManifestFile], qc: QCStats,
           excluded: list[ExcludedAnnotator], lineage: dict[str, Any], final: bool = True,
           changes: VersionChanges | None = None) -> "Manifest":
        return cls(request_id=spec.request_id, client=spec.client, title=spec.title,
                   version=version, final=final, changes=changes, task_type=spec.task.type,
                   created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   annoflow_version=__version__, files=files, qc=qc,
                   excluded_annotators=excluded, lineage=lineage)

    def data_files(self) -> dict[str, str]:
        """The data files (tables): path -> sha256, what decides if content is new."""
        return {f.path: f.sha256 for f in self.files if f.rows is not None}

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()
