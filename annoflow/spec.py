"""The request spec: the contract a delivery manager writes, validated field by field.

A spec is YAML; ``load_spec`` turns it into a ``RequestSpec`` or raises ``SpecError``
naming the file and every bad field. Relative data paths are resolved against the
directory annoflow runs in, so the flow only ever sees absolute paths or ``s3://`` URIs.
"""
from __future__ import annotations

import re
import reprlib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from annoflow.errors import SpecError
from annoflow.pool import MatchWeights
from annoflow.tasktypes import TASK_TYPES, get_task_type

REQUEST_ID = re.compile(r"^[a-z0-9-]+$")
DATA_SUFFIXES = (".jsonl", ".csv", ".parquet")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_data_uri(uri: str) -> str:
    if not uri.strip():
        raise ValueError("must not be empty")
    if "://" in uri and not uri.startswith("s3://"):
        raise ValueError("must be a local path or an s3:// URI")
    if not uri.lower().endswith(DATA_SUFFIXES):
        raise ValueError(f"must name a {', '.join(DATA_SUFFIXES)} file")
    return uri


TaskSpec = Annotated[Union[tuple(t.Spec for t in TASK_TYPES.values())],  # type: ignore[misc]
                     Field(discriminator="type")]


class SourceSpec(_Model):
    uri: str
    id_field: str = Field(min_length=1)
    fields: dict[str, str] = Field(description="task-type input name -> column in the source")
    max_bad_share: float = Field(
        0.0, ge=0, lt=1, description="bad rows are quarantined; refuse to start above this share")
    max_field_chars: int = Field(20_000, ge=1, description="longer field values are bad rows")

    _uri = field_validator("uri")(lambda cls, v: _check_data_uri(v))


class GoldSpec(_Model):
    uri: str
    fraction: float = Field(gt=0, lt=1, description="share of the project's tasks that are gold")
    answer_field: str = "answer"

    _uri = field_validator("uri")(lambda cls, v: _check_data_uri(v))


class QualificationSpec(_Model):
    """A qualification round before production: each shortlisted expert answers ``items``
    items with known answers in a project of its own; at least ``pass_mark`` of them
    right and they are rostered."""
    uri: str
    items: int = Field(ge=1, le=200, description="items each candidate answers")
    pass_mark: float = Field(gt=0, le=1, description="share right needed to be rostered")
    answer_field: str = "answer"

    _uri = field_validator("uri")(lambda cls, v: _check_data_uri(v))


class WorkforceSpec(_Model):
    annotators_per_item: int = Field(ge=1, le=50)
    max_experts: int = Field(ge=1)
    languages: list[str] = Field(min_length=1)
    min_vetting_score: float = Field(0.0, ge=0, le=1)
    subspecialties: list[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$")]] = Field(
        [], description="the domain's subspecialties the work needs (domain fit: the share "
                        "of them an expert has)")
    weights: MatchWeights = Field(
        MatchWeights(), description="how much each part of an expert's score counts in "
                                    "matching: domain_fit, quality, vetting, cost, availability")
    qualification: QualificationSpec | None = Field(
        None, description="a qualification round in Label Studio before production: only "
                          "experts at or above its pass mark are rostered")
    max_annotators_per_item: int | None = Field(
        None, ge=1, le=50,
        description="dynamic overlap: an item whose aggregate confidence stays under "
                    "qc.target_confidence gets one more judgment at a time, up to this many "
                    "(default: annotators_per_item, no extra judgments)")

    @model_validator(mode="after")
    def _enough_experts(self) -> "WorkforceSpec":
        if self.max_experts < self.annotators_per_item:
            raise ValueError(
                f"max_experts ({self.max_experts}) must be at least annotators_per_item "
                f"({self.annotators_per_item}): each item needs that many different experts")
        top = self.max_annotators_per_item
        if top is not None and not self.annotators_per_item <= top <= self.max_experts:
            raise ValueError(
                f"max_annotators_per_item ({top}) must be between annotators_per_item "
                f"({self.annotators_per_item}) and max_experts ({self.max_experts})")
        return self

    @property
    def most_per_item(self) -> int:
        """The most judgments an item can get (dynamic overlap included)."""
        return self.max_annotators_per_item or self.annotators_per_item


class ReviewSpec(_Model):
    """L4, expert review: once every item has its judgments, a sample of what is to be
    delivered goes to reviewers (senior experts of the pool with ``skill`` in the
    campaign's domain, never its annotators) in a Label Studio project of their own. Each
    accepts, corrects or rejects what they are shown."""
    rate: float | None = Field(
        None, gt=0, le=1,
        description="share of the delivered items (free text: of the accepted texts) "
                    "reviewed; default: all of them for free text, 10% otherwise")
    reviewers: int = Field(2, ge=1, le=100, description="reviewers sourced from the pool")
    skill: str = Field("reviewer", min_length=1, max_length=100,
                       description="the pool skill a reviewer must have")

    def share(self, free_text: bool) -> float:
        return self.rate if self.rate is not None else (1.0 if free_text else 0.1)


class QCSpec(_Model):
    min_gold_accuracy: float = Field(0.7, ge=0, le=1)
    aggregation: Literal["weighted", "dawid_skene", "majority_vote"] = Field(
        "weighted",
        description="how a (task, field)'s judgments become one label: 'weighted' the "
                    "reliability-weighted aggregate for the scale (Dawid-Skene on nominal "
                    "labels; on ordinal ones, Likert ratings, rubric criteria, graded "
                    "preferences, qc.aggregation.OrdinalDawidSkene: one reliability per "
                    "annotator and the crowd's error profile over the scale's distances); "
                    "'dawid_skene' Dawid-Skene's full confusions on every scale; "
                    "'majority_vote' the most frequent label")
    min_gold_judgments: int = Field(
        5, ge=1, description="judgments an annotator needs before accuracy can exclude them")
    accuracy_rule: Literal["interval", "point"] = Field(
        "interval",
        description="at the end: 'interval' excludes an annotator only when their accuracy, "
                    "estimated from gold and from agreement with the others, is confidently "
                    "(95% Wilson interval) under min_gold_accuracy; 'point' when their gold "
                    "accuracy alone is under it")
    drift_alpha: float = Field(
        0.05, ge=0, lt=1,
        description="at the end, with gold and accuracy_rule 'interval': exclude an annotator "
                    "whose work gets worse over their own submission order (one-sided trend "
                    "test under this p) to confidently (95% Wilson interval) under "
                    "min_gold_accuracy in the later half of it (0 disables)")
    min_speed_ratio: float = Field(
        0.25, ge=0, lt=1,
        description="exclude annotators whose median time per judgment is below this share "
                    "of the crowd's median (0 disables)")
    gold_tolerance: int | None = Field(
        None, ge=0, description="on ordinal scales, a gold answer this close counts as right "
                                "(default 1 for ordinal types, 0 otherwise)")
    min_judgments_for_speed: int = Field(
        10, ge=1, description="judgments an annotator needs before the speed rule can remove "
                              "them while the campaign runs")
    review_window: int = Field(
        10, ge=0, le=10_000,
        description="how many judgments an expert may submit beyond what live QC has vouched "
                    "for (their pace compared with at least two others'); Label Studio then "
                    "serves them nothing until the next tick looks. 0: no limit")
    max_top_label_share: float | None = Field(
        0.95, gt=0.5, le=1,
        description="straight-lining: exclude annotators who give one answer to at least this "
                    "share of their judgments (with qc.min_judgments_for_straight_lining) while "
                    "the other annotators give it 20 points less often (None disables)")
    min_judgments_for_straight_lining: int = Field(
        20, ge=2, description="judgments an annotator needs before straight-lining can exclude them")
    max_flagged_share: float = Field(
        0.5, gt=0, le=1, description="free-text types: exclude annotators with at least this "
                                     "share of their texts failing the automatic checks")
    target_confidence: float | None = Field(
        None, gt=0, lt=1,
        description="dynamic overlap: an item with all its judgments whose aggregate "
                    "confidence (the aggregation's posterior of its label; the lowest over a "
                    "rubric's criteria) is under this gets one more judgment, up to "
                    "workforce.max_annotators_per_item (off by default)")
    min_item_agreement: float | None = Field(
        None, gt=0, le=1,
        description="adjudication: an item with all its judgments whose agreement (the share "
                    "of agreeing pairs of its kept judgments, averaged over a rubric's "
                    "criteria) is under this gets one more judgment, by the same rule as "
                    "target_confidence (off by default)")
    swap_probe_share: float = Field(
        0.0, ge=0, le=0.5,
        description="side-by-side types: this share of the work items gets a swap probe, the "
                    "same pair shown the other way round, which Label Studio serves to each "
                    "expert who judged the item, a few tasks later; the share of probes an "
                    "expert answers as they answered the item is their self-consistency, "
                    "reported per annotator and never delivered (0: none)")
    review: ReviewSpec | None = Field(
        None, description="L4: expert review of a sample before delivery (off when absent)")
    min_review_acceptance: float = Field(
        0.8, ge=0, le=1,
        description="with review: delivery is blocked when the share of reviewed items "
                    "accepted as they were is confidently (95% Wilson interval) under this")


class OperationsSpec(_Model):
    tick_seconds: float = Field(
        300, ge=1, le=86_400,
        description="how often the campaign advances: sync the changes, live QC, act, record "
                    "progress (seconds; the demo uses a few, real campaigns minutes)")
    idle_release_hours: float = Field(
        24, gt=0, le=24 * 90,
        description="an expert who holds a task this long without submitting it is released "
                    "from the campaign and the task goes to someone else")


class DeliverySpec(_Model):
    uri: str

    @field_validator("uri")
    @classmethod
    def _s3_prefix(cls, value: str) -> str:
        if not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", value):
            raise ValueError("must be s3://bucket/prefix/ with a valid bucket name")
        return value if value.endswith("/") else value + "/"

    @property
    def bucket(self) -> str:
        return self.uri[len("s3://"):].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        return self.uri[len("s3://"):].split("/", 1)[1] if "/" in self.uri[5:] else ""


class RequestSpec(_Model):
    spec_version: Literal[1] = 1
    request_id: Annotated[str, Field(min_length=1, max_length=40)]
    client: str = Field(min_length=1)
    title: str = Field(min_length=1)
    domain: str = Field(min_length=1)
    deadline: date | None = None
    budget_usd: float | None = Field(None, gt=0)
    task: TaskSpec
    source: SourceSpec
    gold: GoldSpec | None = None
    workforce: WorkforceSpec
    qc: QCSpec = QCSpec()
    operations: OperationsSpec = OperationsSpec()
    delivery: DeliverySpec

    @field_validator("request_id")
    @classmethod
    def _request_id(cls, value: str) -> str:
        if not REQUEST_ID.match(value):
            raise ValueError("must use only lowercase letters, digits and '-' (it keys every "
                             "object the campaign makes)")
        return value

    @model_validator(mode="after")
    def _fields_match_type(self) -> "RequestSpec":
        tt = get_task_type(self.task.type)
        needed, optional = set(tt.inputs), set(tt.metadata)
        given = set(self.source.fields)
        if missing := sorted(needed - given):
            raise ValueError(f"source.fields is missing {missing}: task type "
                             f"{self.task.type} needs {sorted(needed)}")
        if extra := sorted(given - needed - optional):
            raise ValueError(f"source.fields has unknown inputs {extra}: task type "
                             f"{self.task.type} takes {sorted(needed)}"
                             + (f" and optionally {sorted(optional)}" if optional else ""))
        if (half := given & optional) and half != optional:
            raise ValueError(f"source.fields maps {sorted(half)} but not "
                             f"{sorted(optional - half)}: task type {self.task.type} takes "
                             f"{sorted(optional)} together or not at all")
        for name in ("target_confidence", "min_item_agreement"):
            if getattr(self.qc, name) is None:
                continue
            if get_task_type(self.task.type).free_text:
                raise ValueError(f"qc.{name}: task type {self.task.type} is free "
                                 f"text, whose judgments are not voted on; remove it")
            if self.workforce.most_per_item <= self.workforce.annotators_per_item:
                raise ValueError(
                    f"qc.{name} needs workforce.max_annotators_per_item above "
                    f"annotators_per_item ({self.workforce.annotators_per_item}): that is "
                    f"how many judgments an unsure item may get")
        if self.qc.swap_probe_share and tt.sides(self.task) is None:
            raise ValueError(f"qc.swap_probe_share: task type {self.task.type} does not show "
                             f"two responses side by side, so there is no order to swap; "
                             f"remove it")
        if get_task_type(self.task.type).free_text and self.gold is not None:
            raise ValueError(f"gold: task type {self.task.type} is free text, which has no gold "
                             f"answers; remove the gold block (its QC is automatic checks and "
                             f"review)")
        if get_task_type(self.task.type).free_text and self.workforce.qualification is not None:
            raise ValueError(f"workforce.qualification: task type {self.task.type} is free "
                             f"text, which has no answers to score a qualification by; remove it")
        return self

    @property
    def seconds_per_judgment(self) -> float:
        return self.task.seconds_per_judgment or get_task_type(self.task.type).seconds_per_judgment


#: limits of a spec document (a real one has a few dozen values, nested four deep)
MAX_SPEC_VALUES = 100_000
MAX_SPEC_DEPTH = 20
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 3, 4, 4, 60, 60


def _format_errors(source: str, err: ValidationError) -> str:
    lines = [f"{source}: the request spec is invalid ({err.error_count()} problem"
             f"{'s' if err.error_count() != 1 else ''}):"]
    for e in err.errors():
        parts = [str(p) for p in e["loc"]]
        if len(parts) > 1 and parts[0] == "task" and parts[1] in TASK_TYPES:
            del parts[1]  # the union's tag, not a field the user wrote
        loc = ".".join(parts) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "union_tag_invalid":
            loc = "task.type"
            msg = (f"unknown task type {e['ctx']['tag']!r}; expected one of "
                   f"{sorted(TASK_TYPES)}")
        elif e["type"] == "union_tag_not_found":
            loc, msg = "task.type", "is required but missing"
            lines.append(f"  - {loc}: {msg}")
            continue
        if e["type"] == "missing":
            msg = "is required but missing"
        elif e["type"] == "extra_forbidden":
            msg = "is not a known field (check the spelling)"
        quiet = ("missing", "extra_forbidden", "union_tag_invalid")
        got = "" if e["type"] in quiet or isinstance(e["input"], dict) else \
            f" (got {_SHORT.repr(e['input'])})"  # bounded work, whatever the input's size
        if len(got) > 80:
            got = got[:77] + "...)"
        lines.append(f"  - {loc}: {msg}{got}")
    return "\n".join(lines)


def _resolve(uri: str, base: Path) -> str:
    if uri.startswith("s3://") or Path(uri).is_absolute():
        return uri
    return str((base / uri).resolve())


def _check_size(raw: Any, source: str) -> None:
    """Refuse a document that expands to more than MAX_SPEC_VALUES values or nests deeper
    than MAX_SPEC_DEPTH (a YAML alias bomb is a few lines that expand to millions): counted
    without expanding it, and stopping at the limit."""
    stack, seen = [(raw, 1)], 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_SPEC_VALUES:
            raise SpecError(f"{source}: the request spec expands to more than {MAX_SPEC_VALUES:,} "
                            f"values (YAML aliases repeating a block?); a spec is a few dozen")
        if depth > MAX_SPEC_DEPTH:
            raise SpecError(f"{source}: the request spec nests deeper than {MAX_SPEC_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
            stack.extend((k, depth + 1) for k in node.keys())
        elif isinstance(node, (list, tuple)):
            stack.extend((v, depth + 1) for v in node)


def parse_spec(raw: Any, *, source: str = "<spec>", base_dir: Path | None = None) -> RequestSpec:
    """Validate a parsed YAML/JSON document as a RequestSpec; resolve relative paths."""
    if not isinstance(raw, dict):
        raise SpecError(f"{source}: expected a YAML mapping of fields at the top level, "
                        f"got {type(raw).__name__}")
    _check_size(raw, source)
    try:
        spec = RequestSpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_format_errors(source, err)) from None
    try:  # checked now, before anything is created anywhere
        get_task_type(spec.task.type).checked_label_config(spec)
    except ValueError as err:
        raise SpecError(f"{source}: task: {err}") from None
    base = base_dir or Path.cwd()
    updates: dict[str, Any] = {
        "source": spec.source.model_copy(update={"uri": _resolve(spec.source.uri, base)}),
    }
    if spec.gold is not None:
        updates["gold"] = spec.gold.model_copy(update={"uri": _resolve(spec.gold.uri, base)})
    if (q := spec.workforce.qualification) is not None:
        updates["workforce"] = spec.workforce.model_copy(update={
            "qualification": q.model_copy(update={"uri": _resolve(q.uri, base)})})
    return spec.model_copy(update=updates)


def load_spec(path: str | Path, *, base_dir: Path | None = None) -> RequestSpec:
    """Read and validate a request spec file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such request spec file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read the request spec ({err})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    return parse_spec(raw, source=str(path), base_dir=base_dir)
