"""The one rule for extra judgments: which items are judged again, by whom it is decided,
and how Label Studio is told. An item gets a judgment back, or one more, when

* an expert removed for quality had judged it (``tasks.operations.act_on_quality``): their
  judgments stop counting, and annoflow's scheduler in Label Studio serves the item to a
  trusted expert again by itself;
* the end-of-campaign rules (``qc.pipeline``) would exclude an expert live QC kept, once
  every item has its judgments: that expert is removed here the way live QC removes, so
  that their items are judged again before anything is delivered, instead of being
  delivered short of judgments (unless the experts left could not give those items their
  judgments back: a campaign is never stranded; they are then excluded at delivery);
* a reviewer rejected what it was to deliver (L4, ``tasks.review``): it is judged again
  once, by experts who have not judged it, ``annotators_per_item`` more on voted work, one
  more text per rejected text on free text (as many as the active experts left can give);
* it has all its judgments but its aggregate confidence (the lowest over its fields) is
  under ``qc.target_confidence`` (dynamic overlap), or its agreement (the share of agreeing
  pairs, averaged over its fields) under ``qc.min_item_agreement`` (adjudication): its
  overlap goes up by one, up to ``workforce.max_annotators_per_item``, and again at later
  ticks while it stays under.

A raised overlap is told to Label Studio first and recorded after (``overlaps.json`` in the
raw zone), like a removal: a crash in between leaves Label Studio asking for one judgment
more than the record says, which the next tick records again or which is one judgment
extra; never an item that waits for a judgment nobody is served.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime, timezone

import pandas as pd

from annoflow.failpoints import failpoint
from qc.pipeline import QCResult
from tasks import stage
from tasks.operations import Campaign, apply_roster_changes, record_actions
from tasks.production import complete_item_ids, live_annotations, trusted_judges
from tasks.quality import assess
from tasks.services import Services

log = logging.getLogger("annoflow.extra")


def item_confidence(outcome: pd.DataFrame) -> pd.Series:
    """Each item's aggregate confidence: the lowest over its fields (a rubric's criteria)."""
    if "confidence" not in outcome or not len(outcome):
        return pd.Series(dtype=float)
    return outcome.groupby("task")["confidence"].min()


def unsure_items(spec, confidence: pd.Series, agreement: pd.Series | None) -> dict[str, str]:
    """Items under ``qc.target_confidence`` or ``qc.min_item_agreement``: item_id -> why."""
    out: dict[str, str] = {}
    if (target := spec.qc.target_confidence) is not None:
        out |= {i: f"confidence {c:.2f} < qc.target_confidence {target:g}"
                for i, c in confidence[confidence < target].items()}
    if (bar := spec.qc.min_item_agreement) is not None and agreement is not None:
        low = agreement[agreement < bar]
        out |= {i: "; ".join(filter(None, [out.get(i), f"agreement {a:.2f} < "
                                                        f"qc.min_item_agreement {bar:g}"]))
                for i, a in low.items()}
    return out


def raised_overlaps(camp: Campaign, judges: pd.Series, confidence: pd.Series,
                    agreement: pd.Series | None = None) -> dict[str, int]:
    """Dynamic overlap (pure): the campaign's raised overlaps (item_id -> judgments) after
    this tick. An item with all the judgments it needs (``judges``: item_id -> the experts
    whose judgments of it count) whose ``confidence`` is under ``qc.target_confidence``
    needs one more, up to ``workforce.max_annotators_per_item``, when an active expert who
    has not judged it is left to give it. An overlap goes down only when nobody is left to
    give what it asks (experts removed since): then nobody can be working on it either, and
    the campaign does not wait for a judgment that cannot come. ``agreement``: item_id ->
    its agreement, for ``qc.min_item_agreement`` (see ``unsure_items``)."""
    out = dict(camp.overlaps)
    k, top = camp.spec.workforce.annotators_per_item, camp.spec.workforce.most_per_item
    active = set(camp.with_status("active"))
    for item, n in camp.overlaps.items():
        who = judges.get(item, set())
        if n > len(who) and not active - who:
            out[item] = max(k, len(who))
    for item in unsure_items(camp.spec, confidence, agreement):
        who = judges.get(item, set())
        n = len(who)
        if out.get(item, k) <= n < top and active - who:
            out[item] = n + 1
    return out


def stranded(camp: Campaign, judges: pd.Series, leaving: set[str]) -> list[str]:
    """Items that could not get the judgments they need any more if ``leaving`` were
    removed: too few experts would be left who judged them or could (pure)."""
    active = set(camp.with_status("active")) - leaving
    k = camp.spec.workforce.annotators_per_item
    return sorted(item for item, who in judges.items() if who & leaving
                  and len((who - leaving) | active) < camp.overlaps.get(item, k))


def late_exclusions(camp: Campaign, qc: QCResult) -> dict[str, str]:
    """Experts still on the campaign whom the end-of-campaign rules exclude (pure)."""
    removed = set(camp.removed)
    return {str(w): str(r) for w, r in qc.excluded_workers["exclusion_reason"].items()
            if w not in removed and w in camp.entries}


def _task_ids(synced: pd.DataFrame, items: list[str]) -> dict[str, int]:
    live = live_annotations(synced)
    ids = live.drop_duplicates("item_id").set_index("item_id")["ls_task_id"]
    return {i: int(ids[i]) for i in items if i in ids.index}


@stage(name="extra-judgments")
def ask_for_more(camp: Campaign, synced: pd.DataFrame, svc: Services | None = None,
                 qc: QCResult | None = None) -> tuple[Campaign, list[dict]]:
    """Judgments again for the items the end-of-campaign rules would leave short, and one
    more for the items under the target confidence; returns the campaign as changed and
    the actions taken (also in the audit log). ``qc``: the tick's QC of ``synced`` for
    ``camp``, when it has one already."""
    spec, svc = camp.spec, svc or Services.connect()
    work = int((~camp.items["is_gold"].astype(bool)).sum())
    done = len(complete_item_ids(synced, camp.items, spec, set(camp.removed), camp.overlaps))
    if spec.qc.target_confidence is None and spec.qc.min_item_agreement is None \
            and not camp.overlaps and done < work:
        return camp, []
    qc = qc if qc is not None else assess(spec, camp.items, synced, camp.removed)
    now = datetime.now(timezone.utc)
    judges = trusted_judges(synced, set(camp.removed))
    if done >= work and (late := late_exclusions(camp, qc)):
        if not (short := stranded(camp, judges, set(late))):
            # taken off the campaign now, so their items are judged again before delivery
            return apply_roster_changes(
                camp, {e: {"action": "removed", "expert_id": e, "rule": "end",
                           "reason": f"end-of-campaign rules: {why}"} for e, why in late.items()},
                now=now, svc=svc)
        # too few experts would be left to judge their items again: excluded at delivery
        log.warning("%s: the end-of-campaign rules exclude %s; without them %d item(s) could "
                    "not get their judgments from the experts left, so they are excluded at "
                    "delivery instead and those items have fewer judgments",
                    camp.request_id, ", ".join(sorted(late)), len(short))
    conf = item_confidence(qc.outcome)
    agree = None
    if qc.agreement is not None:  # (gold items are never raised: their answer is known)
        gold = set(camp.items.loc[camp.items["is_gold"].astype(bool), "item_id"])
        agree = qc.agreement.items[~qc.agreement.items.index.isin(gold)]
    raised = raised_overlaps(camp, judges, conf, agree)
    why = unsure_items(spec, conf, agree)
    new = {i: n for i, n in raised.items() if camp.overlaps.get(i) != n}
    tasks = _task_ids(synced, list(new))
    new = {i: n for i, n in new.items() if i in tasks}  # (a raised item has judgments)
    if not new:
        return camp, []
    raised = {**camp.overlaps, **new}
    svc.ls.set_overlaps(project_id=camp.project_id, overlaps={tasks[i]: n for i, n in new.items()})
    failpoint("extra:overlaps-set")
    raw = svc.raw(camp.request_id)
    svc.store.put_bytes(uri=raw.overlaps, data=json.dumps(raised, sort_keys=True).encode(),
                    content_type="application/json")
    k = spec.workforce.annotators_per_item
    actions = [{"action": "overlap_raised", "item_id": i, "judgments": n, "reason": why[i]}
               if n > camp.overlaps.get(i, k) else
               {"action": "overlap_lowered", "item_id": i, "judgments": n,
                "reason": "no active expert is left who has not judged it"}
               for i, n in sorted(new.items())]
    record_actions(svc.store, raw, [{**a, "at": now.isoformat(timespec="seconds")} for a in actions])
    log.info("%s: the overlap of %d item(s) changed: %s", camp.request_id, len(new),
             ", ".join(f"{a['item_id']} {a['judgments']}" for a in actions[:10]))
    return replace(camp, overlaps=raised), actions


def redo_overlaps(camp: Campaign, judges: pd.Series, rejected: dict[str, int]) -> dict[str, int]:
    """Review's redo (pure): item_id -> its overlap once the ``rejected`` items (item_id ->
    judgments wanted again) are judged again by active experts who have not judged them
    (as many as are left; an item nobody is left for is not raised)."""
    active = set(camp.with_status("active"))
    out = {}
    for item, more in rejected.items():
        who = judges.get(item, set())
        more = min(more, len(active - who))
        if more > 0:
            out[item] = len(who) + more
    return out


@stage(name="redo-rejected")
def redo_rejected(camp: Campaign, synced: pd.DataFrame, rejected: dict[str, int],
                  svc: Services | None = None) -> tuple[Campaign, list[dict]]:
    """Items rejected in review judged again (``redo_overlaps``): Label Studio is told,
    then the overlaps recorded; returns the campaign as changed and the actions."""
    svc = svc or Services.connect()
    raised = redo_overlaps(camp, trusted_judges(synced, set(camp.removed)), rejected)
    tasks = _task_ids(synced, list(raised))
    raised = {i: n for i, n in raised.items() if i in tasks}
    if not raised:
        return camp, []
    svc.ls.set_overlaps(project_id=camp.project_id, overlaps={tasks[i]: n for i, n in raised.items()})
    overlaps = {**camp.overlaps, **raised}
    raw = svc.raw(camp.request_id)
    svc.store.put_bytes(uri=raw.overlaps, data=json.dumps(overlaps, sort_keys=True).encode(),
                        content_type="application/json")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    actions = [{"action": "overlap_raised", "item_id": i, "judgments": n,
                "reason": "rejected in expert review: judged again", "at": now}
               for i, n in sorted(raised.items())]
    record_actions(svc.store, raw, actions)
    log.info("%s: %d item(s) rejected in review are judged again", camp.request_id, len(raised))
    return replace(camp, overlaps=overlaps), actions
