"""Stage 3, produce: the Label Studio project, its tasks, and the wait for annotators,
syncing their annotations incrementally into the raw zone as it goes."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd
import pyarrow as pa

from annoflow.errors import ConnectorError
from annoflow.items import swap_twins, swapped_refs
from annoflow.judgments import counted
from annoflow.layout import RawZone
from annoflow.plan import gold_rate
from annoflow.records import RAW_ANNOTATION_SCHEMA
from annoflow.spec import RequestSpec
from annoflow.tasktypes import UnreadableResult, get_task_type
from annoflow.failpoints import failpoint
from connectors.label_studio import LSProject, LSTask
from connectors.state import StateStore
from tasks import stage
from tasks.services import CampaignLabelStudio, ObjectStore, Services

log = logging.getLogger("annoflow.produce")


def _seed(request_id: str) -> int:
    return int(hashlib.sha256(request_id.encode()).hexdigest()[:8], 16)
#: re-read tasks changed this long before the newest change already synced
SYNC_MARGIN = timedelta(seconds=5)


def required_overlap(items: pd.DataFrame, spec: RequestSpec,
                     raised: dict[str, int] | None = None) -> pd.Series:
    """Judgments each item needs, by ``ref``: annotators_per_item, or more where live QC
    raised it (``raised``: item_id -> judgments, see ``tasks.extra_judgments``); none on
    gold items, which are probes served at the campaign's gold rate and never hold a
    campaign up."""
    k = spec.workforce.annotators_per_item
    need = items["is_gold"].map({True: 0, False: k}).astype(int)
    if raised:
        more = items["item_id"].map(raised).fillna(0).astype(int)
        need = need.where(items["is_gold"].astype(bool), need.clip(lower=more))
    return pd.Series(need.to_numpy(), index=items["ref"].to_numpy())


#: a qualification task may be answered by every candidate (each answers it once)
QUALIFICATION_OVERLAP = 10_000


def campaign_project(ls: CampaignLabelStudio, state: StateStore, spec: RequestSpec,
                     label_config: str, *, qualification: bool = False) -> LSProject:
    """The campaign's project (or its qualification round's), by the id recorded when it
    was made (never by title)."""
    camp = state.begin_campaign(request_id=spec.request_id, client=spec.client)
    recorded = camp.qualification_project_id if qualification else camp.ls_project_id
    what = "qualification project" if qualification else "Label Studio project"
    if recorded is not None:
        project = ls.get_project(project_id=recorded)
        if project is None:
            raise ConnectorError(
                f"{what} {recorded} of campaign {spec.request_id} is gone from {ls.base_url}; "
                f"its annotations are only in the raw zone now")
        return project
    # made before a crash that came before its id was recorded: found by its key
    key = camp.project_key + ("-qualification" if qualification else "")
    title = f"Qualification: {spec.title}" if qualification else spec.title
    project = ls.find_project_by_key(key=key) or ls.create_project(
        key=key, request_id=spec.request_id, title=title, label_config=label_config,
        overlap=QUALIFICATION_OVERLAP if qualification else spec.workforce.annotators_per_item,
        description=f"annoflow {'qualification round of ' if qualification else 'campaign '}"
                    f"{spec.request_id}: {spec.title}")
    state.set_project(request_id=spec.request_id, project_id=project.id,
                      qualification=qualification)
    return project


def import_once(ls: CampaignLabelStudio, project_id: int, spec: RequestSpec,
                items: pd.DataFrame) -> tuple[dict, int]:
    """Import the items not imported yet (their inputs and opaque ``ref`` only), in an
    order shuffled per request so that task ids say nothing; returns ref -> task, and how
    many were imported now."""
    existing = {t.meta.get("ref"): t for t in ls.iter_tasks(project_id=project_id,
                                                            with_annotations=False)}
    new = items[~items["ref"].isin(existing.keys())]
    if not len(new):
        return existing, 0
    new = new.sample(frac=1.0, random_state=_seed(spec.request_id))
    tt = get_task_type(spec.task.type)
    swapped = swapped_refs(new)

    def shown(r) -> dict[str, str]:  # the inputs only (never an item's metadata)
        data = {k: getattr(r, k) for k in tt.inputs}
        return tt.swap_data(spec.task, data) if r.ref in swapped else data
    ls.import_tasks(project_id=project_id, tasks=[
        {"data": shown(r), "meta": {"ref": r.ref}} for r in new.itertuples()])
    return {t.meta.get("ref"): t for t in ls.iter_tasks(project_id=project_id,
                                                        with_annotations=False)}, len(new)


@stage(name="setup-project")
def setup_project(spec: RequestSpec, items: pd.DataFrame, roster: pd.DataFrame,
                  svc: Services | None = None) -> LSProject:
    """Create (or find) the project and import the items not imported yet, gold hidden
    among them; the roster's experts are its members."""
    svc = svc or Services.connect()
    ls = svc.ls
    tt = get_task_type(spec.task.type)
    project = campaign_project(ls, svc.state, spec, tt.label_config(spec))
    twins = swap_twins(spec, items)
    # gold and swap probes hidden among the work
    existing, imported = import_once(ls, project.id, spec, pd.concat([items, twins.drop(
        columns="twin_of")], ignore_index=True) if len(twins) else items)
    failpoint("setup:tasks-imported")
    # who may work here, which tasks are the hidden gold probes served at the gold rate, and
    # which are swap probes, served to those who judged their item
    gold_refs = items.loc[items["is_gold"], "ref"]
    ls.set_access(project_id=project.id, members=[int(u) for u in roster["ls_user_id"]],
                  probes=[existing[r].id for r in gold_refs], gold_rate=gold_rate(spec),
                  serving_ttl_s=spec.operations.idle_release_hours * 3600,
                  twins={existing[r.ref].id: existing[r.twin_of].id for r in twins.itertuples()})
    log.info("Label Studio project %d ready: %d tasks (%d imported now, %d hidden gold, "
             "%d swap probes)", project.id, len(existing), imported, len(gold_refs), len(twins))
    return project


def annotation_rows(tasks: list[LSTask], *, refs: dict[str, tuple[str, bool]],
                    experts: dict[int, str], spec: RequestSpec,
                    swapped: frozenset[str] = frozenset(),
                    twins: frozenset[str] = frozenset()) -> tuple[pd.DataFrame, int]:
    """Label Studio tasks -> raw annotation rows. Returns the rows and how many
    annotations came from users outside the roster (left out). ``swapped``: the refs of
    tasks shown the other way round, whose answers are mapped back to the item's terms
    (``answer_json``; ``result_json`` stays as Label Studio has it); ``twins``: the refs
    of swap probes (rows marked ``twin``)."""
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
            try:
                answer, problem = tt.read_result(spec.task, a.result), None
                if ref in swapped:
                    answer = tt.swap_answer(spec.task, answer)
            except UnreadableResult as err:
                answer, problem = None, str(err)
            rows.append({
                "annotation_id": a.id, "ls_task_id": t.id, "item_id": item_id, "is_gold": is_gold,
                "expert_id": experts[a.completed_by],
                "answer_json": json.dumps(answer, sort_keys=True) if answer else None,
                "lead_time_s": float(a.lead_time) if a.lead_time is not None else None,
                "was_cancelled": a.was_cancelled, "created_at": a.created_at,
                "updated_at": a.updated_at, "result_json": json.dumps(a.result, sort_keys=True),
                "quarantine": problem, "twin": ref in twins})
    df = pd.DataFrame(rows, columns=RAW_ANNOTATION_SCHEMA.names)
    return df, outsiders


def _read_all(store: ObjectStore, raw: RawZone) -> pd.DataFrame:
    """Every annotation synced so far, latest version of each, swap probes' too."""
    frames = [store.get_parquet(uri=u).to_pandas()
              for u in store.list_uris(prefix_uri=raw.annotations_prefix) if u.endswith(".parquet")]
    frames = [f.reindex(columns=RAW_ANNOTATION_SCHEMA.names) for f in frames if len(f)]
    if not frames:  # (snapshots written before a column existed read it as null)
        return pd.DataFrame(columns=RAW_ANNOTATION_SCHEMA.names)
    return _latest(pd.concat(frames, ignore_index=True))


def split_twins(synced: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the annotations of items, the answers to swap probes)."""
    flag = synced["twin"] if "twin" in synced else pd.Series(False, index=synced.index)
    twin = flag.fillna(False).astype(bool).to_numpy()
    return synced[~twin].reset_index(drop=True), synced[twin].reset_index(drop=True)


def read_synced(store: ObjectStore, raw: RawZone) -> pd.DataFrame:
    """Every annotation of an item synced so far, latest version of each (swap probes'
    answers are not judgments: ``read_swap_probes``)."""
    return split_twins(_read_all(store, raw))[0]


def read_swap_probes(store: ObjectStore, raw: RawZone) -> pd.DataFrame:
    """The answers to swap probes synced so far, latest version of each."""
    return split_twins(_read_all(store, raw))[1]


def _latest(df: pd.DataFrame) -> pd.DataFrame:
    """The newest version of each annotation."""
    return (df.sort_values(["annotation_id", "updated_at"], kind="stable")
              .drop_duplicates("annotation_id", keep="last").reset_index(drop=True))


#: what makes a version of an annotation: a change to any of these is a new version, even
#: when Label Studio did not move ``updated_at`` (an edit or reassignment behind its back)
VERSION_KEY = ["annotation_id", "updated_at", "expert_id", "result_json", "was_cancelled",
               "withdrawn"]


def _merge(synced: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fold newly listed rows into what is synced; returns (all, the rows not seen before)."""
    if not len(rows):
        return synced, rows
    if not len(synced):
        return _latest(rows), rows
    def key(df: pd.DataFrame) -> pd.MultiIndex:
        return pd.MultiIndex.from_frame(df.reindex(columns=VERSION_KEY).astype(object)
                                        .where(lambda d: d.notna(), None))
    known = synced[synced["annotation_id"].isin(rows["annotation_id"])]  # (their versions)
    fresh = rows[~key(rows).isin(key(known))]
    return _latest(pd.concat([synced, fresh], ignore_index=True)), fresh


#: a full listing of the project against the raw zone this often (and at a campaign's start)
RECONCILE_EVERY_S = 300.0


def live_annotations(synced: pd.DataFrame) -> pd.DataFrame:
    """The synced annotations still in Label Studio (not withdrawn)."""
    return synced[synced["withdrawn"].isna()]


def reconcile(synced: pd.DataFrame, tasks: list[LSTask], listed: pd.DataFrame
              ) -> tuple[pd.DataFrame, list[dict]]:
    """A full listing of Label Studio (``tasks``; their roster rows ``listed``) against the
    latest synced version of each annotation. Returns the rows that record what changed
    behind the incremental sync's back (a withdrawn version for an annotation deleted, or
    reassigned outside the roster; edits and reassignments inside it are in ``listed``
    already and merge as new versions) and the differences, each named."""
    present = {a.id for t in tasks for a in t.annotations}
    now_listed = listed.set_index("annotation_id")
    gone_rows, events = [], []
    for r in live_annotations(synced).itertuples(index=False):
        aid = int(r.annotation_id)
        if aid not in present or aid not in now_listed.index:
            why = ("deleted in Label Studio" if aid not in present else
                   "reassigned in Label Studio to a user outside the roster")
            gone_rows.append({**r._asdict(), "withdrawn": why})
            events.append({"annotation_id": aid, "item_id": r.item_id, "change": why})
            continue
        now = now_listed.loc[aid]
        if now["expert_id"] != r.expert_id:
            events.append({"annotation_id": aid, "item_id": r.item_id,
                           "change": "reassigned in Label Studio to another roster expert"})
        elif now["result_json"] != r.result_json or bool(now["was_cancelled"]) != bool(r.was_cancelled):
            events.append({"annotation_id": aid, "item_id": r.item_id,
                           "change": "edited in Label Studio"})
    gone = pd.DataFrame(gone_rows, columns=RAW_ANNOTATION_SCHEMA.names)
    return gone, events


def _write_snapshot(store: ObjectStore, raw: RawZone, rows: pd.DataFrame) -> str:
    table = pa.Table.from_pandas(rows.sort_values("annotation_id"), schema=RAW_ANNOTATION_SCHEMA,
                                 preserve_index=False)
    until = rows["updated_at"].max().strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256(rows.sort_values("annotation_id").reindex(columns=VERSION_KEY)
                            .to_csv(index=False).encode()).hexdigest()[:12]
    uri = raw.annotation_snapshot(until, digest)
    if not store.exists(uri=uri):
        store.put_parquet(uri=uri, table=table)
    return uri


def _trusted(synced: pd.DataFrame, removed: set[str]) -> pd.DataFrame:
    """The submitted judgments that count: still in Label Studio, not cancelled, not by an
    expert removed for quality (what annoflow's scheduler in Label Studio counts)."""
    live = live_annotations(synced)
    return live[~live["expert_id"].isin(removed) & ~live["was_cancelled"].astype(bool)]


def trusted_counts(synced: pd.DataFrame, removed: set[str] = frozenset()) -> pd.Series:
    """Distinct experts whose judgments count, per item (item_id)."""
    return _trusted(synced, removed).groupby("item_id")["expert_id"].nunique()


def trusted_judges(synced: pd.DataFrame, removed: set[str] = frozenset()) -> pd.Series:
    """item_id -> the experts whose judgments of it count."""
    judges: dict[str, set[str]] = {}
    trusted = _trusted(synced, removed)
    for item, expert in zip(trusted["item_id"].to_numpy(), trusted["expert_id"].to_numpy()):
        judges.setdefault(item, set()).add(expert)
    return pd.Series(judges, dtype=object).rename_axis("item_id").rename("expert_id")


def complete_item_ids(synced: pd.DataFrame, items: pd.DataFrame, spec: RequestSpec,
                      removed: set[str] = frozenset(),
                      raised: dict[str, int] | None = None) -> list[str]:
    """The work items (not gold probes) with submissions by as many distinct experts as
    they need, not counting experts removed for quality: what annoflow's scheduler counts,
    so it serves such an item no more. A submission set aside (``annoflow.judgments``)
    still counts here, or one unreadable result would hold the campaign forever; QC
    reports it, and the item has one judgment fewer. ``raised``: see ``required_overlap``."""
    need = required_overlap(items, spec, raised)
    have = trusted_counts(synced, removed)
    work = items[~items["is_gold"].astype(bool)]
    have = have.reindex(work["item_id"].to_numpy(), fill_value=0).to_numpy()
    done = have >= need.reindex(work["ref"].to_numpy()).to_numpy()
    return list(work["item_id"].to_numpy()[done])


def complete_items(synced: pd.DataFrame, items: pd.DataFrame, spec: RequestSpec,
                   removed: set[str] = frozenset(), raised: dict[str, int] | None = None) -> int:
    """How many work items have all their judgments (``complete_item_ids``)."""
    return len(complete_item_ids(synced, items, spec, removed, raised))


def _record_reconciliation(store: ObjectStore, raw: RawZone, events: list[dict]) -> dict:
    """Write what a full reconciliation found (only when it found something) and say it."""
    at = datetime.now(timezone.utc)
    summary = {"at": at.isoformat(timespec="seconds"), "differences": len(events),
               "by_change": pd.Series([e["change"] for e in events], dtype=object)
               .value_counts().to_dict() if events else {}}
    if events:
        body = json.dumps({**summary, "events": events}, indent=2).encode()
        uri = raw.reconciliation(at.strftime("%Y%m%dT%H%M%SZ"), hashlib.sha256(body).hexdigest()[:12])
        store.put_bytes(uri=uri, data=body, content_type="application/json")
        for e in events:
            log.warning("reconciliation: annotation %d on item %s was %s", e["annotation_id"],
                        e["item_id"], e["change"])
    return summary


@dataclass(frozen=True)
class SyncResult:
    """What one sync pass found: every synced annotation (latest version of each), how many
    rows were new, and the full reconciliation's summary when one ran."""
    synced: pd.DataFrame
    fresh: int
    reconciled: dict | None
    watermark: datetime          # where the next pass's listing starts (less SYNC_MARGIN)
    swap_probes: pd.DataFrame | None = None   # the answers to swap probes (no judgments)


@stage(name="sync")
def sync_annotations(spec: RequestSpec, project_id: int, items: pd.DataFrame,
                     roster: pd.DataFrame, *, full: bool,
                     watermark: datetime | None = None,
                     svc: Services | None = None) -> SyncResult:
    """One pass: the tasks Label Studio changed since ``watermark`` (when the last pass
    began listing, less a safety margin; else the newest synced annotation's), or all of
    them and a reconciliation against the raw zone when ``full`` -> new raw-zone rows.

    Idempotent: what is synced is read back from the raw zone first, and a snapshot's key
    is its content's digest, so a pass cut short and run again writes nothing twice."""
    svc = svc or Services.connect()
    ls, store, raw = svc.ls, svc.store, svc.raw(spec.request_id)
    twins = swap_twins(spec, items)
    refs = {r.ref: (r.item_id, bool(r.is_gold)) for r in (*items.itertuples(), *twins.itertuples())}
    experts = dict(zip(roster["ls_user_id"].astype(int), roster["expert_id"]))
    synced = _read_all(store, raw)
    live = live_annotations(synced)
    mark = watermark or (live["updated_at"].max() if len(live) else None)
    since = None if full or mark is None else mark - SYNC_MARGIN
    started = datetime.now(timezone.utc)
    changed = list(ls.iter_tasks(project_id=project_id, updated_after=since))
    # the next pass lists what changed after this listing began (less SYNC_MARGIN, which
    # also covers a small clock difference with Label Studio's server)
    watermark = max([started, *(t.updated_at for t in changed)])
    rows, outsiders = annotation_rows(changed, refs=refs, experts=experts, spec=spec,
                                      swapped=swapped_refs(items) | swapped_refs(twins),
                                      twins=frozenset(twins["ref"]))
    if outsiders and not full:
        log.warning("%d annotation(s) by Label Studio users outside the roster were left out",
                    outsiders)
    reconciled = None
    if full:
        gone, events = reconcile(synced, changed, rows)
        rows = pd.concat([rows, gone], ignore_index=True) if len(gone) else rows
        reconciled = _record_reconciliation(store, raw, events)
    synced, fresh = _merge(synced, rows)
    if len(fresh):
        _write_snapshot(store, raw, fresh)
        failpoint("sync:snapshot-written")
        for r in fresh[fresh["quarantine"].notna()].itertuples():
            log.warning("annotation %d on item %s quarantined (kept in the raw zone, not "
                        "counted): %s", r.annotation_id, r.item_id, r.quarantine)
    work, probes = split_twins(synced)
    return SyncResult(synced=work, fresh=len(fresh), reconciled=reconciled, watermark=watermark,
                      swap_probes=probes)
