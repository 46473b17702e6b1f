"""Stage 4b, review (L4): once every item has its judgments, a sample of what is to be
delivered goes to the campaign's reviewers, in a Label Studio project of its own that
only they can open (the same access path as annotators: their own logins, tasks served by
annoflow's scheduler, answers checked against the project's questions).

Reviewers are senior experts of the pool: ``qc.review.skill`` in the campaign's domain,
never one of its annotators. They are sourced when production starts (so a person knows
early that they are booked) and get their project once production is done. A reviewer sees
an item as the annotators saw it, what is to be delivered for it, and the task type's own
controls, all optional; they accept it, correct it (setting the right answer with those
controls) or reject it. ``qc.review`` (pure) turns the verdicts into the delivery.

Everything is read back each tick: the sample from the raw zone (drawn once), the
verdicts from Label Studio, so a tick that dies halfway is simply run again.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd
import pyarrow as pa

from annoflow.errors import DataError
from annoflow.roster import bookings
from annoflow.spec import RequestSpec
from annoflow.tasktypes import UnreadableResult, get_task_type
from connectors.label_studio import LSProject, LSTask
from qc.review import (REDONE, VERDICT_COLUMNS, VERDICTS, ReviewSummary, sample, second_looks,
                       shown_answer, summarize, units)
from tasks import stage
from qc.pipeline import QCResult
from tasks.operations import Campaign, load_campaign
from tasks.services import Services
from tasks.sourcing import ensure_experts, write_roster

log = logging.getLogger("annoflow.review")

#: the review project's key, after the campaign's
KEY_SUFFIX = "-review"
VERDICT_FIELD = "review_verdict"
SHOWN_FIELD = "review_answer"
_REQUIRED = re.compile(r'\s+required="true"')


def review_label_config(spec: RequestSpec) -> str:
    """The task type's own labeling config with every control optional (they are the
    correction, needed only to correct), and the review block: what is to be delivered,
    and the verdict (required)."""
    config = _REQUIRED.sub("", get_task_type(spec.task.type).label_config(spec))
    block = (
        '<View style="margin-top: 1em; padding: 0.5em; border: 2px solid #4a6fa5; border-radius: 6px;">'
        '<Header value="To be delivered: review it" size="5"/>'
        f'<Text name="{SHOWN_FIELD}" value="${SHOWN_FIELD}"/>'
        '<Header value="accept: deliver it as it is · correct: set the right answer with the '
        'controls above, yours is delivered · reject: it cannot be delivered" size="6"/>'
        f'<Choices name="{VERDICT_FIELD}" toName="{SHOWN_FIELD}" choice="single" '
        'required="true" showInline="true">'
        + "".join(f'<Choice value="{v}"/>' for v in VERDICTS) + "</Choices></View>")
    at = config.rstrip().rfind("</View>")
    return config[:at] + block + config[at:]


def reviewers(camp: Campaign) -> list[str]:
    return camp.with_status("reviewing")


def reviewer_shortlist(spec: RequestSpec, state, *, exclude: list[str], n: int) -> pd.DataFrame:
    """The best ``n`` (or fewer, at least one) experts of the pool who may review the
    campaign: ``qc.review.skill``, the request's domain and languages, hours left, not
    ``exclude`` (its annotators). DataError, naming what would fix it, when nobody can."""
    from tasks.scoping import rank_pool
    try:
        ranked, _ = rank_pool(spec, state, exclude=exclude, limit=n, need=1,
                              skills=[spec.qc.review.skill])
    except DataError as err:
        raise DataError(f"qc.review: nobody can review {spec.request_id}: no expert in the pool "
                        f"besides its annotators has skill {spec.qc.review.skill!r} and matches "
                        f"the request ({err}). What would fix it: experts with that skill in the "
                        f"pool (`annoflow pool import`, the `skills` column), another "
                        f"qc.review.skill, or no qc.review block") from None
    return ranked.head(n)


@stage(name="source-reviewers")
def source_reviewers(camp: Campaign, svc: Services | None = None) -> Campaign:
    """Book ``qc.review.reviewers`` reviewers from the pool (idempotent: those booked
    already count) and onboard them; the raw zone's roster lists them as reviewers.
    DataError, with what would fix it, when the pool has none."""
    from tasks.stages import last_plan

    svc = svc or Services.connect()
    spec, state = camp.spec, svc.state
    want = spec.qc.review.reviewers - len(reviewers(camp))
    if want > 0:
        with svc.lock("pool", kind="bookings"):
            fresh = reviewer_shortlist(spec, state, exclude=list(camp.entries), n=want)
            plan = last_plan(camp.request_id, svc)
            hours = (plan.expert_hours if plan else spec.seconds_per_judgment * len(camp.items) / 3600)
            share = hours * spec.qc.review.share(get_task_type(spec.task.type).free_text) \
                / spec.workforce.annotators_per_item
            state.set_roster(request_id=camp.request_id, expert_ids=list(fresh["expert_id"]),
                             booked_hours=bookings(fresh, share), actor="tick", status="reviewing")
        fresh = fresh.assign(role="reviewer")
        roster = pd.concat([camp.roster, fresh[fresh.columns.intersection(
            [*camp.roster.columns, "role"])]], ignore_index=True)
        camp = replace(camp, roster=roster)
        log.info("%d reviewer(s) booked for %s", len(fresh), camp.request_id)
    missing = camp.roster["ls_user_id"].isna()
    if missing.any() or "role" not in camp.roster.columns:
        made = ensure_experts(list(camp.roster["expert_id"]), ls=svc.ls, state=svc.state,
                              settings=svc.settings)
        roster = camp.roster.assign(ls_user_id=[made[e].ls_user_id for e in camp.roster["expert_id"]])
        write_roster(svc.store, svc.raw(camp.request_id), roster)
    return load_campaign(camp.request_id, svc)


def review_project(svc: Services, spec: RequestSpec, *, create: bool = True) -> LSProject | None:
    """The campaign's review project, found by its key (made when ``create``)."""
    key = svc.state.campaign(spec.request_id).project_key + KEY_SUFFIX
    found = svc.ls.find_project_by_key(key=key)
    if found is not None or not create:
        return found
    return svc.ls.create_project(key=key, request_id=spec.request_id,
                                 title=f"Review: {spec.title}", overlap=1,
                                 label_config=review_label_config(spec),
                                 description=f"annoflow expert review of campaign "
                                             f"{spec.request_id}: {spec.title}")


def _stored(drawn: pd.DataFrame, round_: int) -> pd.DataFrame:
    return drawn.assign(answer_json=drawn["answer"].map(lambda a: json.dumps(a, sort_keys=True)),
                        task=drawn["task"].astype(str), round=round_).drop(columns="answer")


def draw_sample(camp: Campaign, qc: Callable[[], QCResult], svc: Services) -> pd.DataFrame:
    """The units to review: drawn once from what QC would deliver (``qc``: QC's result,
    computed only then), with every item still unsure after its extra judgments (under
    ``qc.target_confidence`` or ``qc.min_item_agreement``: adjudication ends in review),
    then read back; once the items rejected in review have been judged again, their new
    results join it as round 2 (voted: the item's new aggregate, unit ``item#2``; free
    text: the new texts)."""
    raw = svc.raw(camp.request_id)
    stored = svc.store.get_parquet(uri=raw.review_sample)
    tt = get_task_type(camp.spec.task.type)
    redo = read_redo(svc, camp.request_id)
    if stored is not None and (not redo or redo["sampled"]):
        return stored.to_pandas()
    if stored is None:
        result = qc()
        candidates = units(result.outcome, tt.free_text)
        drawn = sample(candidates, camp.spec.qc.review.share(tt.free_text), seed=camp.request_id)
        unsure = set(map(str, unsure_of(camp, result)))
        forced = candidates[candidates["task"].astype(str).isin(unsure)
                            & ~candidates["unit"].isin(set(drawn["unit"]))]
        drawn = _stored(pd.concat([drawn, forced], ignore_index=True).sort_values("unit"), 1)
    else:  # the redone items' new results
        drawn = stored.to_pandas()
        again = set(redo["items"])
        fresh = units(qc().outcome, tt.free_text)
        fresh = fresh[fresh["task"].astype(str).isin(again)]
        if tt.free_text:
            fresh = fresh[~fresh["unit"].isin(set(drawn["unit"]))]
        else:
            fresh = fresh.assign(unit=fresh["unit"] + REDONE)
        drawn = pd.concat([drawn, _stored(fresh, 2)], ignore_index=True)
    svc.store.put_parquet(uri=raw.review_sample, table=pa.Table.from_pandas(
        drawn, preserve_index=False))
    if redo:
        write_redo(svc, camp.request_id, {**redo, "sampled": True})
    return drawn


def unsure_of(camp: Campaign, result: QCResult) -> list[str]:
    """The work items QC leaves unsure (``tasks.extra_judgments.unsure_items``: the one rule
    that gave them extra judgments while it could)."""
    from tasks.extra_judgments import item_confidence, unsure_items
    agree = result.agreement.items if result.agreement is not None else None
    gold = set(camp.items.loc[camp.items["is_gold"].astype(bool), "item_id"])
    return [i for i in unsure_items(camp.spec, item_confidence(result.outcome), agree)
            if i not in gold]


def read_redo(svc: Services, request_id: str) -> dict | None:
    """The review's redo, once asked for: {"units": the rejected units, "items": the items
    judged again, "sampled": their new results are in the sample}."""
    data = svc.store.get_bytes(uri=svc.raw(request_id).review_redo)
    return json.loads(data) if data else None


def write_redo(svc: Services, request_id: str, redo: dict) -> None:
    svc.store.put_bytes(uri=svc.raw(request_id).review_redo,
                        data=json.dumps(redo, sort_keys=True).encode(),
                        content_type="application/json")


@stage(name="redo-review")
def redo(camp: Campaign, synced: pd.DataFrame, summary: ReviewSummary,
         svc: Services | None = None) -> tuple[Campaign, list[dict]]:
    """The first round's rejected units judged again, once (``tasks.extra_judgments``):
    an item rejected on voted work gets ``annotators_per_item`` more judgments, a prompt
    with a rejected text one more text per rejected text. Nothing when it was asked for
    already or nothing was rejected; their new results are reviewed in turn (round 2)."""
    from tasks.extra_judgments import redo_rejected
    svc = svc or Services.connect()
    if read_redo(svc, camp.request_id) is not None:
        return camp, []
    v = summary.verdicts
    first = v[v["verdict"] == "reject"]  # (no redo yet: every verdict is of round 1)
    if not len(first):
        return camp, []
    tt = get_task_type(camp.spec.task.type)
    per_item = first.groupby("task").size()
    wanted = {str(t): (int(n) if tt.free_text else camp.spec.workforce.annotators_per_item)
              for t, n in per_item.items()}
    camp, actions = redo_rejected(camp, synced, wanted, svc)
    write_redo(svc, camp.request_id, {"units": sorted(map(str, first["unit"])),
                                      "items": sorted(a["item_id"] for a in actions),
                                      "sampled": not actions})
    return camp, actions


def _import(svc: Services, camp: Campaign, project: LSProject, drawn: pd.DataFrame,
            have: set[str]) -> None:
    """One review task per sampled unit not imported yet (``have``: the refs of those
    that are): the item's inputs as the annotators saw them and what is to be delivered."""
    tt = get_task_type(camp.spec.task.type)
    items = camp.items.set_index("item_id")
    tasks = []
    for r in drawn.itertuples():
        ref = f"{items.at[r.task, 'ref']}/{r.unit}"
        if ref in have:
            continue
        data = {k: str(items.at[r.task, k]) for k in tt.inputs}
        tasks.append({"data": {**data, SHOWN_FIELD: shown_answer(json.loads(r.answer_json))},
                      "meta": {"ref": ref}})
    if tasks:
        svc.ls.import_tasks(project_id=project.id, tasks=tasks)


def read_verdicts(spec: RequestSpec, tasks: list[LSTask], drawn: pd.DataFrame,
                  users: dict[int, str]) -> tuple[pd.DataFrame, set[str]]:
    """The reviewers' verdicts (VERDICT_COLUMNS) in ``tasks``, and the units whose reviews
    could not be read (checked like any answer: a verdict among VERDICTS; with ``correct``, a
    legal answer to every question of the task type). Reviews by anyone but the
    campaign's reviewers (``users``: Label Studio user -> reviewer) are left out."""
    tt = get_task_type(spec.task.type)
    questions = {q.name for q in tt.questions(spec.task)}
    by_ref = {f"{r.ref}/{r.unit}": r for r in drawn.itertuples()} if "ref" in drawn else {}
    rows, unreadable = [], set()
    for t in tasks:
        unit = by_ref.get(t.meta.get("ref"))
        if unit is None:
            continue
        for a in t.annotations:
            if a.completed_by not in users or a.was_cancelled:
                continue
            verdict, correction = _verdict(tt, spec, a.result, questions)
            if verdict is None:
                unreadable.add(unit.unit)
                continue
            rows.append({"unit": unit.unit, "task": unit.task, "writer": unit.writer,
                         "reviewer": users[a.completed_by], "verdict": verdict,
                         "correction_json": correction, "lead_time_s": a.lead_time,
                         "created_at": a.created_at})
    return pd.DataFrame(rows, columns=VERDICT_COLUMNS), unreadable


def _verdict(tt, spec: RequestSpec, result, questions: set[str]) -> tuple[str | None, str | None]:
    if not isinstance(result, list):
        return None, None
    said = [r for r in result if isinstance(r, dict) and r.get("from_name") == VERDICT_FIELD]
    rest = [r for r in result if isinstance(r, dict) and r.get("from_name") != VERDICT_FIELD]
    chosen = [c for r in said for c in (r.get("value") or {}).get("choices") or []]
    if len(chosen) != 1 or chosen[0] not in VERDICTS:
        return None, None
    if chosen[0] != "correct":
        return chosen[0], None
    try:
        answer = tt.read_result(spec.task, rest)
    except UnreadableResult:
        return None, None
    if set(answer) != questions:  # a correction answers every question
        return None, None
    return "correct", json.dumps(answer, sort_keys=True)


@dataclass(frozen=True)
class Reviewed:
    """Where the review stands after a tick."""
    summary: ReviewSummary | None     # all sampled units reviewed: the verdicts
    sampled: int
    reviewed: int
    redoing: int = 0                  # items rejected in review, being judged again


@stage(name="review")
def review_round(camp: Campaign, qc: Callable[[], QCResult],
                 svc: Services | None = None) -> Reviewed:
    """One tick of the review: draw the sample (once), give the reviewers their project
    and its tasks, read their verdicts; done when every sampled unit has one."""
    svc = svc or Services.connect()
    spec = camp.spec
    drawn = draw_sample(camp, qc, svc)
    items = camp.items.set_index("item_id")
    drawn = drawn.assign(ref=drawn["task"].map(items["ref"]))
    project = review_project(svc, spec)
    team = reviewers(camp)
    users = {int(u): e for e, u in zip(camp.roster["expert_id"], camp.roster["ls_user_id"])
             if e in team and pd.notna(u)}
    tasks = list(svc.ls.iter_tasks(project_id=project.id, with_annotations=True))
    verdicts, unreadable = read_verdicts(spec, tasks, drawn, users)
    # a second look is another reviewer's: who rejected the item is never served it, barred
    # by the task's ref before it is imported
    ls_id = {e: u for u, e in users.items()}
    ref = dict(zip(drawn["unit"].astype(str), drawn["ref"].astype(str) + "/" + drawn["unit"].astype(str)))
    barred = {ref[unit]: [ls_id[e] for e in who if e in ls_id]
              for unit, who in second_looks(drawn, verdicts, sorted(users.values())).items()}
    svc.ls.set_access(project_id=project.id, members=sorted(users), probes=[], gold_rate=0.0,
                      serving_ttl_s=spec.operations.idle_release_hours * 3600, barred=barred)
    _import(svc, camp, project, drawn, have={t.meta.get("ref") for t in tasks})
    # (a review that cannot be read still took the task: its unit stays unreviewed)
    done = set(verdicts["unit"]) | unreadable
    if len(drawn) and not set(drawn["unit"]) <= done:
        return Reviewed(summary=None, sampled=len(drawn), reviewed=len(done))
    summary = summarize(verdicts, len(drawn), spec.qc.min_review_acceptance,
                        len(unreadable - set(verdicts["unit"])))
    raw = svc.raw(camp.request_id)
    svc.store.put_parquet(uri=raw.reviews, table=pa.Table.from_pandas(
        summary.verdicts.astype({"lead_time_s": "float64"}), preserve_index=False))
    log.info("review of %s done: %s", camp.request_id, summary.check().summary)
    return Reviewed(summary=summary, sampled=len(drawn), reviewed=len(done))


def close_review(camp: Campaign, svc: Services) -> None:
    """The review is over: nobody works in the review project any more."""
    project = review_project(svc, camp.spec, create=False)
    if project is not None:
        svc.ls.set_access(project_id=project.id, members=[], probes=[], gold_rate=0.0)
