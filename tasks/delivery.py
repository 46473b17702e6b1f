"""Stage 5, deliver: the one delivery writer. Files first, ``manifest.json`` last; a
version with a manifest is complete and is never modified."""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, replace

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from annoflow.delivery import (ExcludedAnnotator, Manifest, ManifestFile, VersionChanges,
                               dataset_card, judgments_table, model_views, pseudonym,
                               pseudonymized)
from annoflow.errors import ConnectorError
from annoflow.judgments import counted
from annoflow.layout import DeliveryLayout
from annoflow.results import QCStats
from qc.ranking import rankings_view
from qc.report import qc_report_html
from annoflow.settings import Settings
from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from annoflow.failpoints import failpoint
from connectors.s3 import ObjectExists, parquet_bytes
from qc.checks import CheckResult, gate
from qc.pipeline import QCResult
from qc.schema import TableRules, validate_table
from tasks import stage
from tasks.services import ObjectStore, Services

log = logging.getLogger("annoflow.deliver")


class Delivery(BaseModel):
    uri: str
    manifest_uri: str
    rows: int
    annotations: int
    reused: bool
    manifest: Manifest


_BOUNDED = {"confidence": (0, 1), "overall_score": (0, 1), "reward": (0, 1)}


def check_delivery(spec: RequestSpec, views: list[tuple[str, pa.Table]],
                   judged: pa.Table) -> list[CheckResult]:
    """L0 on what is about to be delivered (Great Expectations)."""
    free = get_task_type(spec.task.type).free_text
    checks = []
    for i, (name, table) in enumerate(views):
        df = table.to_pandas()
        # a view is keyed by item, but for one of what was compared (rankings: the model)
        key = "item_id" if "item_id" in df.columns else str(df.columns[0])
        checks.append(validate_table(df, TableRules(
            columns=(key,), not_null=tuple(c for c in df.columns if c != "margin"),
            unique=(key,) if (i == 0 or key != "item_id") and not free else (),
            between={c: b for c, b in _BOUNDED.items() if c in df.columns}), name=name))
    checks.append(validate_table(judged.to_pandas(), TableRules(
        columns=tuple(judged.column_names), not_null=("item_id", "annotator", "field", "label"),
        between={"lead_time_s": (0, None)}), name="annotations"))
    return checks


def check_client_bucket(settings: Settings, store: ObjectStore, spec: RequestSpec) -> None:
    """The delivery target is the client's own (ANNOFLOW_CLIENT_BUCKETS), and its bucket
    exists: annoflow never creates a client's bucket."""
    settings.check_delivery_target(spec.client, spec.delivery.uri)
    if not store.bucket_exists(bucket=spec.delivery.bucket):
        raise ConnectorError(
            f"the client's bucket {spec.delivery.bucket} (delivery.uri {spec.delivery.uri}) does "
            f"not exist at {settings.s3_endpoint_url or 'AWS S3'}. annoflow never creates a client's bucket: create it "
            f"and give annoflow's S3 identity write access to the prefix, then run again.")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def delivered_versions(store: ObjectStore, spec: RequestSpec) -> list[int]:
    """The versions of the campaign's delivery that are complete (have a manifest)."""
    base = DeliveryLayout(spec.delivery.uri, spec.request_id, 1).base.rsplit("/v1/", 1)[0] + "/"
    found = {int(m.group(1)) for u in store.list_uris(prefix_uri=base)
             if (m := re.search(r"/v(\d+)/manifest\.json$", u))}
    return sorted(found)


def changes_since(previous: pa.Table | None, current: pa.Table, previous_version: int | None,
                  judgments: tuple[int, int]) -> VersionChanges:
    """What a version changes in the primary view since the one before (by item_id)."""
    if previous is None:
        return VersionChanges(previous_version=None, items_added=current.num_rows,
                              items_changed=0, items_removed=0, judgments_added=judgments[1])
    old = previous.to_pandas().set_index("item_id")
    new = current.to_pandas().set_index("item_id")
    both = old.index.intersection(new.index)
    cols = [c for c in new.columns if c in old.columns]
    changed = int((old.loc[both, cols].astype(str) != new.loc[both, cols].astype(str))
                  .any(axis=1).sum())
    return VersionChanges(previous_version=previous_version,
                          items_added=int(len(new.index.difference(old.index))),
                          items_changed=changed,
                          items_removed=int(len(old.index.difference(new.index))),
                          judgments_added=judgments[1] - judgments[0])


@dataclass(frozen=True)
class Built:
    """A delivery version as it will be written: every file's bytes, then the manifest."""
    layout: DeliveryLayout
    files: list[tuple[str, bytes, str]]   # (path in the version, bytes, content type)
    manifest: Manifest
    data: dict[str, str]                  # data files (views, judgments): path -> sha256
    checks: list[CheckResult]             # L0 on the tables (the gate acts on them)


def build_delivery(spec: RequestSpec, items: pd.DataFrame, synced: pd.DataFrame, qc: QCResult,
                   *, version: int, previous: tuple[int, pa.Table, Manifest] | None = None,
                   final: bool = True, key: bytes) -> Built:
    """Everything a version holds, in memory (pure but for the clock in the manifest's
    ``created_at``): the same raw zone gives the same bytes. ``previous``: the version
    before (number, primary view, manifest), for what changed since."""
    layout = DeliveryLayout(spec.delivery.uri, spec.request_id, version)
    views = model_views(spec, items, qc.outcome, key=key)
    pairs = get_task_type(spec.task.type).comparisons(spec.task, items[~items["is_gold"]],
                                                      qc.outcome)
    ranked = rankings_view(pairs) if pairs is not None and len(pairs) else None
    if ranked is not None:
        views.append(("rankings", pa.Table.from_pandas(ranked, preserve_index=False)))
    judged = judgments_table(qc.judgments, counted(synced)[0], client=spec.client, key=key)
    schema_checks = check_delivery(spec, views, judged)
    stats = qc.stats()
    if ranked is not None:
        stats.rankings = ranked.to_dict("records")
    paths = [(name, layout.view_path(name, i == 0), t) for i, (name, t) in enumerate(views)]
    card = dataset_card(spec, version, stats, [(n, p, t.num_rows) for n, p, t in paths]).encode()
    people = [*qc.workers.index, *(qc.review.verdicts["reviewer"] if qc.review else [])]
    names = {w: pseudonym(w, client=spec.client, key=key) for w in people}
    # every figure, per annotator too, under pseudonyms only
    stats = QCStats.model_validate(pseudonymized(stats.model_dump(), names))
    # what QC found, as the client may see it: annotators under their pseudonyms only
    checks = [replace(c, metrics=pseudonymized(c.metrics, names))
              for c in [*schema_checks, *qc.checks]]
    report = qc_report_html(title=spec.title, request_id=spec.request_id, result=qc, stats=stats,
                            names=names, min_gold_accuracy=spec.qc.min_gold_accuracy,
                            checks=checks, rankings=ranked).encode()
    parquet = "application/vnd.apache.parquet"
    tables = [(p, t) for _, p, t in paths] + [(layout.ANNOTATIONS, judged)]
    files = [(p, parquet_bytes(t), parquet) for p, t in tables]
    files += [(layout.QC_REPORT, report, "text/html"), (layout.README, card, "text/markdown")]
    rows = {p: t.num_rows for p, t in tables}
    entries = [ManifestFile(path=p, bytes=len(b), sha256=_sha256(b), rows=rows.get(p),
                            view=next((n for n, q, _ in paths if q == p), None))
               for p, b, _ in files]
    excluded = [ExcludedAnnotator(annotator=pseudonym(w, client=spec.client, key=key),
                                  reason=r.exclusion_reason)
                for w, r in qc.excluded_workers.iterrows()]
    changes = changes_since(previous[1] if previous else None, paths[0][2],
                            previous[0] if previous else None,
                            (previous[2].qc.annotations if previous else 0, stats.annotations))
    # (no raw-zone address nor Label Studio id: the client needs neither)
    m = Manifest.of(spec, version=version, files=entries, qc=stats, excluded=excluded, lineage={
        "spec_sha256": hashlib.sha256(spec.model_dump_json().encode()).hexdigest(),
        "checks": [c.as_dict() for c in checks]}, final=final, changes=changes)
    return Built(layout=layout, files=files, manifest=m, data=m.data_files(),
                 checks=schema_checks)


@stage(name="deliver")
def deliver(spec: RequestSpec, items: pd.DataFrame, synced: pd.DataFrame,
            qc: QCResult, *, final: bool = True, svc: Services | None = None) -> Delivery:
    """Write the next version: the model-ready views, the judgments, the report and the
    card, then the manifest (last: a version is complete once it exists, and never changes
    after). Content identical to the latest version's creates nothing."""
    svc = svc or Services.connect()
    settings, store = svc.settings, svc.store
    settings.require_secret_key()
    check_client_bucket(settings, store, spec)
    versions = delivered_versions(store, spec)
    last = DeliveryLayout(spec.delivery.uri, spec.request_id, versions[-1]) if versions else None
    last_m = Manifest.model_validate_json(store.get_bytes(uri=last.manifest)) if last else None
    previous = ((versions[-1], store.get_parquet(uri=last.file(DeliveryLayout.DATA)), last_m)
                if last else None)
    key = settings.pseudonym_key.get_secret_value().encode()
    built = build_delivery(spec, items, synced, qc, version=(versions[-1] + 1) if versions else 1,
                           previous=previous, final=final, key=key)
    if last_m is not None and built.data == last_m.data_files() and (not final or last_m.final):
        log.info("already delivered: %s holds this content (nothing rewritten)", last.base)
        return _delivery(last, last_m, reused=True)
    gate(built.checks, qc.stats())  # L0: nothing is written unless the tables are sound
    layout = built.layout
    for rel, payload, kind in built.files:
        if store.exists(uri=layout.manifest):  # (the campaign lock makes this never happen)
            raise ConnectorError(f"{layout.base} was completed by another run while this one "
                                 f"was writing it; a version with a manifest is never changed")
        store.put_bytes(uri=layout.file(rel), data=payload, content_type=kind)
        failpoint("deliver:file-written")
    failpoint("deliver:files-written")
    m = built.manifest
    try:
        store.put_bytes(uri=layout.manifest, data=m.to_json(), if_none_match=True,
                        content_type="application/json")
    except ObjectExists:  # another run completed this version first: theirs stands
        m = Manifest.model_validate_json(store.get_bytes(uri=layout.manifest))
    failpoint("deliver:manifest-written")
    svc.publish(
        key=f"{spec.request_id}-delivery",
        markdown=f"# Delivered {spec.request_id} v{layout.version}\n\n`{layout.base}`\n\n"
                 + "\n".join(f"- `{f.path}`: {f.bytes:,} bytes, rows {f.rows}"
                             for f in m.files),
        description=f"Delivery of {spec.request_id}")
    log.info("delivered v%d to %s (%s)", layout.version, layout.base,
             "final" if final else "interim")
    return _delivery(layout, m, reused=False)


def _delivery(layout: DeliveryLayout, m: Manifest, *, reused: bool) -> Delivery:
    rows = {f.path: f.rows for f in m.files}
    return Delivery(uri=layout.base, manifest_uri=layout.manifest, rows=rows[layout.DATA],
                    annotations=m.qc.annotations, reused=reused, manifest=m)
