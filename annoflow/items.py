"""The campaign's items, prepared from its source and gold tables (pure): L0 checks on
input data before anything is created.

``prepare_items`` turns the source and gold tables into the campaign's item table and a
problem list (file, row, field, problem). Bad rows are quarantined, never silently
dropped; the caller refuses to start when too many are bad.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass

import pandas as pd

from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from annoflow.records import ROW

PROBLEM_COLUMNS = ["file", "row", "field", "problem"]


@dataclass(frozen=True)
class PreparedItems:
    items: pd.DataFrame      # item_id, ref, is_gold, gold_answer, <inputs...>
    problems: pd.DataFrame   # file, row, field, problem
    source_rows: int
    gold_rows: int

    @property
    def n_items(self) -> int:
        return int((~self.items["is_gold"]).sum())

    @property
    def n_gold(self) -> int:
        return int(self.items["is_gold"].sum())

    @property
    def bad_rows(self) -> int:
        return int(self.problems.drop_duplicates(["file", "row"]).shape[0])

    @property
    def bad_share(self) -> float:
        total = self.source_rows + self.gold_rows
        return self.bad_rows / total if total else 0.0


def task_ref(request_id: str, item_id: str, *, key: bytes) -> str:
    """The opaque key of an item's Label Studio task: keyed, so that it reveals neither the
    item id nor its gold status even to someone who knows the ids."""
    return hmac.new(key, f"{request_id}\x00{item_id}".encode(), hashlib.sha256).hexdigest()[:16]


def _check_rows(df: pd.DataFrame, *, uri: str, id_field: str, fields: dict[str, str],
                max_chars: int, problems: list[dict]) -> pd.Series:
    """Flag rows with a missing/duplicate id or a missing/empty/oversized field."""
    ok = pd.Series(True, index=df.index)

    def flag(mask: pd.Series, field: str, problem: str) -> None:
        nonlocal ok
        for row in df.loc[mask & ok, ROW]:
            problems.append({"file": uri, "row": int(row), "field": field, "problem": problem})
        ok &= ~mask

    for col in (id_field, *fields.values()):
        if col not in df.columns:
            flag(pd.Series(True, index=df.index), col, "column is missing from the file")
    if not ok.any():
        return ok
    ids = df[id_field].map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                           else str(v).strip())
    flag(ids.eq(""), id_field, "id is missing or empty")
    flag(ids.duplicated(keep="first") & ids.ne(""), id_field, "duplicate id (first kept)")
    for name, col in fields.items():
        values = df[col]
        is_text = values.map(lambda v: isinstance(v, str))
        flag(~is_text & values.notna(), col, f"must be text (input {name!r})")
        flag(values.isna() | values.map(lambda v: isinstance(v, str) and not v.strip()), col,
             f"is empty (input {name!r})")
        flag(values.map(lambda v: isinstance(v, str) and len(v) > max_chars), col,
             f"longer than {max_chars:,} characters (source.max_field_chars)")
    return ok


def _frame(df: pd.DataFrame, ok: pd.Series, id_field: str, fields: dict[str, str],
           required: dict[str, str] | None = None) -> pd.DataFrame:
    """The good rows as items: ``fields`` (input -> column); a field not in ``required``
    (the shown inputs of a gold or qualification file, whose metadata is optional) is left
    empty where its column is missing."""
    if not ok.any():  # possibly with columns missing: nothing usable
        return pd.DataFrame(columns=["item_id", *fields], dtype=object)
    out = pd.DataFrame({"item_id": df.loc[ok, id_field].astype(str).str.strip()})
    for name, col in fields.items():
        if required is not None and name not in required and col not in df.columns:
            out[name] = None
        else:
            out[name] = df.loc[ok, col].astype(str)
    return out


def _swapped(spec: RequestSpec, refs: pd.Series) -> pd.Series:
    """Whether each item is shown the other way round: a bit of its keyed ``ref`` (so the
    order is seeded per request, fixed for the campaign, and unguessable from the data)."""
    if not get_task_type(spec.task.type).shuffles(spec.task):
        return pd.Series(False, index=refs.index, dtype=bool)
    return refs.map(lambda r: hashlib.sha256(str(r).encode()).digest()[0] & 1 == 1).astype(bool)


def swapped_refs(items: pd.DataFrame) -> frozenset[str]:
    """The refs of the items shown the other way round (none for items prepared before
    the order was shuffled)."""
    if "swapped" not in items.columns:
        return frozenset()
    return frozenset(items.loc[items["swapped"].fillna(False).astype(bool), "ref"])


def swap_twins(spec: RequestSpec, items: pd.DataFrame) -> pd.DataFrame:
    """The swap probes (``qc.swap_probe_share``): ``ceil(share * n)`` of the ``n`` work
    items, chosen by a hash of their keyed ``ref``, each a task of its own shown the other
    way round from its item. Rows as ``items``' with their own opaque ``ref`` and the
    item's in ``twin_of``; none when the share is 0."""
    share = spec.qc.swap_probe_share
    work = items[~items["is_gold"].astype(bool)]
    if not share or not len(work):
        return items.iloc[:0].assign(twin_of=pd.Series(dtype=object))
    order = work["ref"].map(lambda r: hashlib.sha256(f"swap-order|{r}".encode()).hexdigest())
    chosen = work.loc[order.sort_values().index[:math.ceil(share * len(work) - 1e-9)]]
    shown = (chosen["swapped"].fillna(False).astype(bool) if "swapped" in chosen.columns
             else pd.Series(False, index=chosen.index))
    return chosen.assign(
        twin_of=chosen["ref"], swapped=~shown,
        ref=chosen["ref"].map(lambda r: hashlib.sha256(f"swap|{r}".encode()).hexdigest()[:16]))


def _shown(spec: RequestSpec) -> dict[str, str]:
    """The inputs an expert is shown (``source.fields`` without the type's metadata, which
    a gold or qualification file need not carry)."""
    inputs = get_task_type(spec.task.type).inputs
    return {k: v for k, v in spec.source.fields.items() if k in inputs}


def _answered_rows(spec: RequestSpec, df: pd.DataFrame, *, uri: str, answer: str,
                   problems: list[dict]) -> tuple[pd.Series, dict[int, str]]:
    """Rows of a file of items with known answers (gold, qualification): which are good,
    and each good row's answers as JSON ``{field: label}``; problems appended."""
    tt = get_task_type(spec.task.type)
    ok = _check_rows(df, uri=uri, id_field=spec.source.id_field, fields=_shown(spec),
                     max_chars=spec.source.max_field_chars, problems=problems)
    if answer not in df.columns:
        problems.append({"file": uri, "row": 0, "field": answer,
                         "problem": "answer column is missing from the file"})
        ok &= False
    answers: dict[int, str] = {}
    for i in df.index[ok]:
        try:
            answers[i] = json.dumps(tt.parse_gold(spec.task, df.at[i, answer]), sort_keys=True)
        except ValueError as err:
            problems.append({"file": uri, "row": int(df.at[i, ROW]), "field": answer,
                             "problem": str(err)})
            ok[i] = False
    return ok, answers


def prepare_items(spec: RequestSpec, source: pd.DataFrame, gold: pd.DataFrame | None, *,
                  ref_key: bytes) -> PreparedItems:
    """Validate source and gold rows and build the item table (gold items hidden among them).

    ``gold_answer`` holds a gold item's answers as JSON ``{field: label}``."""
    problems: list[dict] = []
    fields = dict(spec.source.fields)
    id_field = spec.source.id_field
    cap = spec.source.max_field_chars

    ok = _check_rows(source, uri=spec.source.uri, id_field=id_field, fields=fields,
                     max_chars=cap, problems=problems)
    items = _frame(source, ok, id_field, fields)
    items["is_gold"] = False
    items["gold_answer"] = None
    parts = [items]
    if gold is not None and spec.gold is not None:
        gok, answers = _answered_rows(spec, gold, uri=spec.gold.uri,
                                      answer=spec.gold.answer_field, problems=problems)
        gids = gold[id_field].astype(str).str.strip()
        clash = gok & gids.isin(set(items["item_id"]))
        for row, gid in zip(gold.loc[clash, ROW], gids[clash]):
            problems.append({"file": spec.gold.uri, "row": int(row), "field": id_field,
                             "problem": f"gold id {gid!r} is also a source item id"})
        gok &= ~clash
        g = _frame(gold, gok, id_field, fields, required=_shown(spec))
        g["is_gold"] = True
        g["gold_answer"] = [answers[i] for i in g.index]
        # gold share of the project's tasks = fraction; picked deterministically per request
        n_gold = min(len(g), math.ceil(spec.gold.fraction * len(items) / (1 - spec.gold.fraction)))
        g["ref"] = g["item_id"].map(lambda i: task_ref(spec.request_id, i, key=ref_key))
        parts.append(g.sort_values("ref").head(n_gold))
    items["ref"] = items["item_id"].map(lambda i: task_ref(spec.request_id, i, key=ref_key))
    table = pd.concat(parts, ignore_index=True)
    table["swapped"] = _swapped(spec, table["ref"])
    table = table[["item_id", "ref", "is_gold", "gold_answer", "swapped", *fields]]
    return PreparedItems(items=table.reset_index(drop=True),
                         problems=pd.DataFrame(problems, columns=PROBLEM_COLUMNS),
                         source_rows=len(source), gold_rows=0 if gold is None else len(gold))


def prepare_qualification(spec: RequestSpec, table: pd.DataFrame, *, gold: pd.DataFrame | None,
                          ref_key: bytes) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The qualification round's items (``item_id``, ``ref``, ``gold_answer``, inputs): the
    spec's ``items`` of the file's good rows, picked deterministically per request; and the
    problems (file, row, field, problem), among them every row that is also a production
    gold item, by id or by what it shows: nobody may see the production gold before
    production. A qualification set is small and curated: any problem refuses it."""
    q = spec.workforce.qualification
    assert q is not None
    problems: list[dict] = []
    fields, id_field = dict(spec.source.fields), spec.source.id_field
    ok, answers = _answered_rows(spec, table, uri=q.uri, answer=q.answer_field, problems=problems)
    if gold is not None and spec.gold is not None and ok.any():
        shown_cols = list(_shown(spec).values())
        content = lambda df: df[shown_cols].astype(str).agg("\x00".join, axis=1)  # noqa: E731
        gold_ids = set(gold[id_field].astype(str).str.strip()) if id_field in gold.columns else set()
        gold_seen = set(content(gold)) if set(shown_cols) <= set(gold.columns) else set()
        ids = table[id_field].astype(str).str.strip()
        shown = content(table)
        for i in table.index[ok]:
            why = ("its id is a production gold item's" if ids[i] in gold_ids else
                   "it shows the same as a production gold item" if shown[i] in gold_seen else None)
            if why:
                problems.append({"file": q.uri, "row": int(table.at[i, ROW]), "field": id_field,
                                 "problem": f"{why} ({spec.gold.uri}): qualification items must "
                                            f"be kept apart from the production gold"})
                ok[i] = False
    items = _frame(table, ok, id_field, fields, required=_shown(spec))
    items["gold_answer"] = [answers[i] for i in items.index]
    items["ref"] = items["item_id"].map(
        lambda i: task_ref(f"{spec.request_id}/qualification", i, key=ref_key))
    items["swapped"] = _swapped(spec, items["ref"])
    items = items.sort_values("ref").head(q.items)[["item_id", "ref", "gold_answer", "swapped",
                                                    *fields]]
    if not len(problems) and len(items) < q.items:
        problems.append({"file": q.uri, "row": 0, "field": "workforce.qualification.items",
                         "problem": f"the file has {len(items)} item(s); the round needs "
                                    f"{q.items}"})
    return items.reset_index(drop=True), pd.DataFrame(problems, columns=PROBLEM_COLUMNS)
