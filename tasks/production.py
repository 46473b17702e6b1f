"""Stage 3, produce: the Label Studio project, its tasks, and the wait for annotators,
syncing their annotations incrementally into the raw zone as it goes."""
from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa

from annoflow.errors import CampaignTimeout
from annoflow.layout import RawZone
from annoflow.records import RAW_ANNOTATION_SCHEMA
from annoflow.settings import get_settings
from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from connectors.label_studio import LabelStudioClient, LSProject, LSTask
from connectors.s3 import S3Store, split_uri
from tasks import io_task

log = logging.getLogger("annoflow.produce")
#: re-read tasks changed this long before the newest change already synced
SYNC_MARGIN = timedelta(seconds=5)


def _required_overlap(items: pd.DataFrame, spec: RequestSpec, roster_size: int) -> pd.Series:
    """Judgments each item needs: annotators_per_item, or every expert on gold items."""
    k = spec.workforce.annotators_per_item
    return pd.Series(items["is_gold"].map({True: roster_size, False: k}).to_numpy(),
                     index=items["ref"].to_numpy())


@io_task(name="setup-project")
def setup_project(spec: RequestSpec, items: pd.DataFrame, roster: pd.DataFrame) -> LSProject:
    """Create (or find) the project and import the items not imported yet, gold hidden among them."""
    settings = get_settings()
    ls, store = LabelStudioClient(settings), S3Store(settings)
    tt = get_task_type(spec.task.type)
    raw = RawZone(settings.raw_zone_uri, spec.request_id)
    store.ensure_bucket(bucket=split_uri(raw.base)[0])
    store.put_bytes(uri=raw.spec, data=spec.model_dump_json(indent=2).encode(),
                    content_type="application/json")
    store.put_parquet(uri=raw.items, table=pa.Table.from_pandas(items, preserve_index=False))

    project = ls.ensure_project(
        request_id=spec.request_id, title=spec.title, label_config=tt.label_config(spec),
        overlap=spec.workforce.annotators_per_item,
        description=f"annoflow campaign {spec.request_id} for {spec.client}: {spec.title}")
    existing = {t.meta.get("ref"): t for t in ls.iter_tasks(project_id=project.id,
                                                            with_annotations=False)}
    new = items[~items["ref"].isin(existing.keys())]
    if len(new):
        inputs = list(tt.inputs)
        payload = [{"data": {k: getattr(r, k) for k in inputs}, "meta": {"ref": r.ref}}
                   for r in new.itertuples()]
        ls.import_tasks(project_id=project.id, tasks=payload)
        existing = {t.meta.get("ref"): t for t in ls.iter_tasks(project_id=project.id,
                                                                with_annotations=False)}
    # every expert sees every gold item, so each gets an accuracy estimate
    need = _required_overlap(items, spec, len(roster))
    gold_refs = items.loc[items["is_gold"], "ref"]
    wrong = [existing[r].id for r in gold_refs if r in existing and existing[r].overlap != need[r]]
    if wrong:
        ls.set_overlap(task_ids=wrong, overlap=len(roster))
    log.info("Label Studio project %d ready: %d tasks (%d imported now, %d hidden gold)",
             project.id, len(existing), len(new), len(gold_refs))
    return project


def annotation_rows(tasks: list[LSTask], *, refs: dict[str, tuple[str, bool]],
                    experts: dict[int, str], spec: RequestSpec) -> tuple[pd.DataFrame, int]:
    """Label Studio tasks -> raw annotation rows. Returns the rows and how many
    annotations came from users outside the roster (left out)."""
    tt = get_task_type(spec.task.type)
    rows, outsiders = [], 0
    for t in tasks:
        ref = t.meta.get("ref")
        if ref not in refs:
            continue
        item_id, is_gold = refs[ref]
        for a in t.annotations:
            if a.completed_by not in experts:
                outsiders += 1
                continue
            rows.append({
                "annotation_id": a.id, "ls_task_id": t.id, "item_id": item_id, "is_gold": is_gold,
                "expert_id": experts[a.completed_by],
                "answer_json": json.dumps(answer, sort_keys=True) if (
                    answer := tt.parse_result(spec.task, a.result)) else None,
                "lead_time_s": float(a.lead_time) if a.lead_time is not None else None,
                "was_cancelled": a.was_cancelled, "created_at": a.created_at,
                "updated_at": a.updated_at, "result_json": json.dumps(a.result, sort_keys=True)})
    df = pd.DataFrame(rows, columns=RAW_ANNOTATION_SCHEMA.names)
    return df, outsiders


def read_synced(store: S3Store, raw: RawZone) -> pd.DataFrame:
    """Every annotation synced so far, latest version of each."""
    frames = [store.get_parquet(uri=u).to_pandas()
              for u in store.list_uris(prefix_uri=raw.annotations_prefix) if u.endswith(".parquet")]
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=RAW_ANNOTATION_SCHEMA.names)
    return _latest(pd.concat(frames, ignore_index=True))


def _latest(df: pd.DataFrame) -> pd.DataFrame:
    """The newest version of each annotation."""
    return (df.sort_values(["annotation_id", "updated_at"], kind="stable")
              .drop_duplicates("annotation_id", keep="last").reset_index(drop=True))


def _merge(synced: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold newly listed rows into what is synced; returns (all, the rows not seen before)."""
    if not len(rows):
        return synced, rows
    if not len(synced):
        return _latest(rows), rows
    key = ["annotation_id", "updated_at"]
    fresh = rows[~rows.set_index(key).index.isin(synced.set_index(key).index)]
    return _latest(pd.concat([synced, fresh], ignore_index=True)), fresh


def _write_snapshot(store: S3Store, raw: RawZone, rows: pd.DataFrame) -> str:
    table = pa.Table.from_pandas(rows.sort_values("annotation_id"), schema=RAW_ANNOTATION_SCHEMA,
                                 preserve_index=False)
    until = rows["updated_at"].max().strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(rows.sort_values("annotation_id")[["annotation_id", "updated_at"]]
                            .to_csv(index=False).encode()).hexdigest()[:12]
    uri = raw.annotation_snapshot(until, digest)
    if not store.exists(uri=uri):
        store.put_parquet(uri=uri, table=table)
    return uri


def _complete(synced: pd.DataFrame, need: pd.Series, items: pd.DataFrame) -> int:
    """How many items have all the distinct judgments they need."""
    valid = synced[~synced["was_cancelled"] & synced["answer_json"].notna()]
    have = valid.groupby("item_id")["expert_id"].nunique()
    ref_of = pd.Series(items["ref"].to_numpy(), index=items["item_id"].to_numpy())
    have = have.reindex(ref_of.index, fill_value=0)
    return int((have.to_numpy() >= need.reindex(ref_of.to_numpy()).to_numpy()).sum())


@io_task(name="collect-annotations")
def collect_annotations(spec: RequestSpec, project: LSProject, items: pd.DataFrame,
                        roster: pd.DataFrame, wait_timeout_s: float,
                        poll_interval_s: float) -> pd.DataFrame:
    """Poll Label Studio until every task has its judgments, syncing changes to the raw zone.

    Resumable: the raw zone's snapshots are read first, so a rerun syncs only what changed.
    """
    settings = get_settings()
    ls, store = LabelStudioClient(settings), S3Store(settings)
    raw = RawZone(settings.raw_zone_uri, spec.request_id)
    refs = {r.ref: (r.item_id, bool(r.is_gold)) for r in items.itertuples()}
    experts = dict(zip(roster["ls_user_id"].astype(int), roster["expert_id"]))
    need = _required_overlap(items, spec, len(roster))
    synced = read_synced(store, raw)
    deadline = time.monotonic() + wait_timeout_s
    last_report = None
    while True:
        since = (synced["updated_at"].max() - SYNC_MARGIN) if len(synced) else None
        changed = list(ls.iter_tasks(project_id=project.id, updated_after=since))
        rows, outsiders = annotation_rows(changed, refs=refs, experts=experts, spec=spec)
        if outsiders:
            log.warning("%d annotation(s) by Label Studio users outside the roster were left out",
                        outsiders)
        synced, fresh = _merge(synced, rows)
        if len(fresh):
            _write_snapshot(store, raw, fresh)
        done = _complete(synced, need, items)
        report = (done, len(synced))
        if report != last_report:
            log.info("progress: %d/%d tasks complete, %d judgments synced", done, len(items),
                     len(synced))
            store.put_bytes(uri=raw.progress, content_type="application/json", data=json.dumps({
                "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "tasks_complete": done, "tasks": len(items), "judgments": len(synced),
                "experts_active": int(synced["expert_id"].nunique()) if len(synced) else 0,
            }).encode())
            last_report = report
        if done >= len(items):
            return synced
        if time.monotonic() >= deadline:
            raise CampaignTimeout(
                f"annotators have finished {done} of {len(items)} tasks after waiting "
                f"{wait_timeout_s:.0f} s; everything so far is saved. Run the same command again "
                f"to resume waiting.", done=done, total=len(items))
        time.sleep(poll_interval_s)
