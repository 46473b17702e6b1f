"""Where every object of a campaign lives: deterministic keys derived from the request id.

Raw zone (internal, append-only annotation snapshots)::

    <raw>/<request_id>/spec.json          the spec the campaign ran with
    <raw>/<request_id>/roster.parquet     experts on the campaign (no contact details)
    <raw>/<request_id>/items.parquet      items as imported (ref, item_id, gold answers)
    <raw>/<request_id>/plan.json          the campaign plan made when it was (last) submitted
    <raw>/<request_id>/reconciliation/<at>-<digest>.json  what a full reconciliation found
    <raw>/<request_id>/audit/<at>-<digest>.json           actions on the campaign (removals, …)
    <raw>/<request_id>/quarantine.csv     bad source/gold rows left out (file, row, field, problem)
    <raw>/<request_id>/progress.json      the latest progress snapshot (written by every tick)
    <raw>/<request_id>/overlaps.json      items whose overlap was raised (item_id -> judgments)
    <raw>/<request_id>/annotations/sync-<until>-<digest>.parquet   synced judgments

Client delivery (a version is complete only once its manifest exists)::

    <delivery>/<request_id>/v<N>/data/train-00000-of-00001.parquet     the primary view
    <delivery>/<request_id>/v<N>/<view>/train-00000-of-00001.parquet   further views
    <delivery>/<request_id>/v<N>/annotations.parquet
    <delivery>/<request_id>/v<N>/qc_report.html     charts and checks
    <delivery>/<request_id>/v<N>/README.md
    <delivery>/<request_id>/v<N>/manifest.json      written last
"""
from __future__ import annotations

from dataclasses import dataclass

from annoflow.uris import join_uri


@dataclass(frozen=True)
class RawZone:
    root: str
    request_id: str

    @property
    def base(self) -> str:
        return join_uri(self.root, self.request_id)

    @property
    def spec(self) -> str:
        return join_uri(self.base, "spec.json")

    @property
    def roster(self) -> str:
        return join_uri(self.base, "roster.parquet")

    @property
    def plan(self) -> str:
        return join_uri(self.base, "plan.json")

    @property
    def items(self) -> str:
        return join_uri(self.base, "items.parquet")

    @property
    def qualification(self) -> str:
        """The qualification round's items, with their answers."""
        return join_uri(self.base, "qualification.parquet")

    @property
    def progress(self) -> str:
        return join_uri(self.base, "progress.json")

    @property
    def overlaps(self) -> str:
        """Items given more judgments than the spec's overlap (dynamic overlap)."""
        return join_uri(self.base, "overlaps.json")

    @property
    def review_sample(self) -> str:
        """L4: the units sampled for expert review (drawn once, when production is done)."""
        return join_uri(self.base, "review", "sample.parquet")

    @property
    def review_redo(self) -> str:
        """L4: the units rejected in review whose items were given judgments again."""
        return join_uri(self.base, "review", "redo.json")

    @property
    def reviews(self) -> str:
        """L4: the reviewers' verdicts on the sample, as delivered."""
        return join_uri(self.base, "review", "verdicts.parquet")

    @property
    def quarantine(self) -> str:
        return join_uri(self.base, "quarantine.csv")

    @property
    def annotations_prefix(self) -> str:
        return join_uri(self.base, "annotations") + "/"

    def annotation_snapshot(self, until: str, digest: str) -> str:
        return join_uri(self.base, "annotations", f"sync-{until}-{digest}.parquet")

    def audit(self, at: str, digest: str) -> str:
        """One tick's or command's actions on the campaign (append-only JSON)."""
        return join_uri(self.base, "audit", f"{at}-{digest}.json")

    def reconciliation(self, at: str, digest: str) -> str:
        """One full reconciliation's differences (append-only JSON)."""
        return join_uri(self.base, "reconciliation", f"{at}-{digest}.json")


@dataclass(frozen=True)
class DeliveryLayout:
    delivery_uri: str
    request_id: str
    version: int

    @property
    def base(self) -> str:
        return join_uri(self.delivery_uri, self.request_id, f"v{self.version}") + "/"

    def file(self, relpath: str) -> str:
        return join_uri(self.base, relpath)

    @property
    def manifest(self) -> str:
        return self.file("manifest.json")

    DATA = "data/train-00000-of-00001.parquet"

    @classmethod
    def view_path(cls, view: str, primary: bool) -> str:
        return cls.DATA if primary else f"{view}/train-00000-of-00001.parquet"
    ANNOTATIONS = "annotations.parquet"
    QC_REPORT = "qc_report.html"
    README = "README.md"
