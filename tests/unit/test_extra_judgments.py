"""The one rule for extra judgments, without services: dynamic overlap (one more judgment
for an item under the target confidence, up to the most an item may get), and the end of
a campaign, where the end-of-campaign rules take an expert off so that their items are
judged again rather than delivered short."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from annoflow.errors import SpecError
from annoflow.spec import parse_spec
from tasks.extra_judgments import (item_confidence, late_exclusions, raised_overlaps,
                                   unsure_items)
from tasks.production import complete_item_ids, required_overlap, trusted_judges
from tasks.quality import assess
from tests.unit.test_judgments import _campaign
from tests.unit.test_task_types import REPO, SPECS
from tests.unit.test_ticks import _camp, _spam


def _with(spec, **qc_and_workforce):
    doc = spec.model_dump(mode="json")
    for section, values in qc_and_workforce.items():
        doc[section].update(values)
    return parse_spec(doc, base_dir=REPO)


def _dynamic(task_type: str, repo, target: float, top: int):
    spec, sc, synced = _campaign(task_type, repo)
    spec = _with(spec, qc={"target_confidence": target},
                 workforce={"max_annotators_per_item": top})
    return spec, sc, synced


@pytest.mark.parametrize("task_type,target", [("pairwise_preference", 0.9),
                                              ("rubric_grading", 0.9999),
                                              ("classification", 0.9)])
def test_items_under_the_target_get_one_more_judgment_and_only_they(task_type, target, repo) -> None:
    """(Three good experts who agree on a five-point criterion leave Dawid-Skene all but
    certain: the rubric's target is set where some of its items fall under it.)"""
    spec, sc, synced = _dynamic(task_type, repo, target=target, top=5)
    camp = _camp(spec, sc)
    k = spec.workforce.annotators_per_item
    conf = item_confidence(assess(spec, sc.items, synced).outcome)
    judges = trusted_judges(synced, set())
    raised = raised_overlaps(camp, judges, conf)
    unsure = set(conf.index[conf < target])
    assert unsure, "the simulated crowd should leave some items unsure"
    assert set(raised) == unsure and set(raised.values()) == {k + 1}
    # a raised item is no longer complete: it waits for its extra judgment
    done = set(complete_item_ids(synced, sc.items, spec, raised=raised))
    assert done.isdisjoint(unsure) and len(done) == int((~sc.items["is_gold"]).sum()) - len(unsure)
    need = required_overlap(sc.items, spec, raised)
    refs = sc.items.set_index("item_id")["ref"]
    assert all(need[refs[i]] == k + 1 for i in unsure)
    # the same judgments at the next tick ask for nothing more (the extra one is not in yet)
    assert raised_overlaps(camp.__class__(**{**camp.__dict__, "overlaps": raised}),
                           judges, conf) == raised


def test_dynamic_overlap_stops_at_the_most_an_item_may_get_and_when_nobody_is_left(repo) -> None:
    spec, sc, synced = _dynamic("pairwise_preference", repo, target=0.99, top=4)
    k = spec.workforce.annotators_per_item
    camp = _camp(spec, sc)
    conf = item_confidence(assess(spec, sc.items, synced).outcome)
    judges = trusted_judges(synced, set())
    item = conf.index[conf < 0.99][0]
    # with its extra judgment in, the item is at the most (4): it gets no fifth
    fourth = next(e for e in camp.entries if e not in judges[item])
    more = judges.copy()
    more[item] = judges[item] | {fourth}
    at_top = camp.__class__(**{**camp.__dict__, "overlaps": {item: k + 1}})
    assert raised_overlaps(at_top, more, conf)[item] == k + 1
    # nobody active who has not judged it: nothing is asked that nobody could give
    statuses = {e: "removed" for e in camp.entries if e not in judges[item]}
    few = _camp(spec, sc, statuses)
    assert item not in raised_overlaps(few, judges, conf)
    # off unless asked for
    plain = _camp(_campaign("pairwise_preference", repo)[0], sc)
    assert raised_overlaps(plain, judges, conf) == {}


def test_the_end_rules_take_off_an_expert_live_qc_kept_and_nobody_else(repo) -> None:
    spec, sc, synced = _campaign("pairwise_preference", repo)
    bad = synced.loc[synced["is_gold"], "expert_id"].value_counts().index[0]
    spammed = _spam(synced, bad, sc.items)
    camp = _camp(spec, sc)
    late = late_exclusions(camp, assess(spec, sc.items, spammed, camp.removed))
    assert list(late) == [bad] and "accuracy" in late[bad] and "gold 0/" in late[bad]
    assert late_exclusions(camp, assess(spec, sc.items, synced)) == {}  # all good: nobody
    gone = _camp(spec, sc, {bad: "removed"})  # already removed: not again
    assert late_exclusions(gone, assess(spec, sc.items, spammed, gone.removed)) == {}
    # once taken off, their items are short again (served to others), not delivered short
    n = int((~sc.items["is_gold"]).sum())
    assert len(complete_item_ids(spammed, sc.items, spec, {bad})) < n


@pytest.mark.parametrize("change, message", [
    ({"qc": {"target_confidence": 0.8}, "workforce": {"max_annotators_per_item": 3}},
     "qc.target_confidence needs workforce.max_annotators_per_item above annotators_per_item"),
    ({"workforce": {"max_annotators_per_item": 2}},
     "max_annotators_per_item (2) must be between annotators_per_item (3) and max_experts"),
    ({"workforce": {"max_annotators_per_item": 9}},
     "max_annotators_per_item (9) must be between annotators_per_item (3) and max_experts (6)"),
    ({"qc": {"target_confidence": 1.5}, "workforce": {"max_annotators_per_item": 4}},
     "qc.target_confidence: Input should be less than 1"),
])
def test_a_spec_asking_for_dynamic_overlap_is_checked(change, message) -> None:
    doc = yaml.safe_load((REPO / "configs/requests" / SPECS["classification"]).read_text())
    for section, values in change.items():
        doc.setdefault(section, {}).update(values)
    with pytest.raises(SpecError) as err:
        parse_spec(doc, source="spec.yaml", base_dir=REPO)
    assert message in str(err.value)


def test_free_text_work_has_no_target_confidence() -> None:
    doc = yaml.safe_load((REPO / "configs/requests" / SPECS["solution_authoring"]).read_text())
    doc.setdefault("qc", {})["target_confidence"] = 0.8
    doc["workforce"]["max_annotators_per_item"] = 3
    with pytest.raises(SpecError, match="free text, whose judgments are not voted on"):
        parse_spec(doc, source="spec.yaml", base_dir=REPO)


def test_raised_overlaps_read_back_as_json_keys(repo) -> None:
    spec, sc, _ = _dynamic("pairwise_preference", repo, target=0.9, top=5)
    item = sc.items.loc[~sc.items["is_gold"], "item_id"].iloc[0]
    back = json.loads(json.dumps({item: 4}))
    need = required_overlap(sc.items, spec, back)
    assert need[sc.items.set_index("item_id").at[item, "ref"]] == 4
    assert (need[sc.items.loc[sc.items["is_gold"], "ref"]] == 0).all()
    assert isinstance(need, pd.Series)


def test_an_overlap_nobody_is_left_to_give_comes_down_and_does_not_hold_the_campaign(repo) -> None:
    spec, sc, synced = _dynamic("pairwise_preference", repo, target=0.99, top=5)
    k = spec.workforce.annotators_per_item
    judges = trusted_judges(synced, set())
    item = next(i for i, who in judges.items() if len(who) == k)
    camp = _camp(spec, sc)
    raised = camp.__class__(**{**camp.__dict__, "overlaps": {item: k + 1}})
    conf = pd.Series({item: 0.5})
    assert raised_overlaps(raised, judges, conf)[item] == k + 1  # others could give it
    # everyone who has not judged it is removed since: the raise comes down to what it has
    gone = {e: "removed" for e in camp.entries if e not in judges[item]}
    stuck = _camp(spec, sc, gone)
    stuck = stuck.__class__(**{**stuck.__dict__, "overlaps": {item: k + 1}})
    assert raised_overlaps(stuck, judges, conf)[item] == k
    assert item in complete_item_ids(synced, sc.items, spec, raised={item: k})


def test_removing_experts_that_would_strand_an_item_is_seen(repo) -> None:
    from tasks.extra_judgments import stranded
    spec, sc, synced = _dynamic("pairwise_preference", repo, target=0.9, top=4)
    judges = trusted_judges(synced, set())
    camp = _camp(spec, sc)
    one = next(iter(camp.entries))
    assert stranded(camp, judges, {one}) == []  # the others can give their judgments back
    everyone_but = set(list(camp.entries)[:len(camp.entries) - 1])
    assert stranded(camp, judges, everyone_but)  # one expert cannot give k judgments


def test_items_under_the_agreement_bar_get_one_more_judgment(repo) -> None:
    """qc.min_item_agreement (adjudication, issue 10): an item whose judges disagree more
    than the bar allows gets one more judgment, by the same rule; gold items never."""
    spec, sc, synced = _campaign("rubric_grading", repo)
    spec = _with(spec, qc={"min_item_agreement": 0.9}, workforce={"max_annotators_per_item": 4})
    camp = _camp(spec, sc)
    qc = assess(spec, sc.items, synced)
    agree = qc.agreement.items
    gold = set(sc.items.loc[sc.items["is_gold"], "item_id"])
    low = set(agree.index[agree < 0.9]) - gold
    assert low and low != set(agree.index) - gold, "the crowd should disagree on some items"
    raised = raised_overlaps(camp, trusted_judges(synced, set()), item_confidence(qc.outcome),
                             agree[~agree.index.isin(gold)])
    assert set(raised) == low and set(raised.values()) == {spec.workforce.annotators_per_item + 1}
    why = unsure_items(spec, item_confidence(qc.outcome), agree)
    assert all(why[i].startswith("agreement ") and "< qc.min_item_agreement 0.9" in why[i]
               for i in low)
    with pytest.raises(SpecError, match="qc.min_item_agreement needs workforce.max_annotators"):
        _with(spec, workforce={"max_annotators_per_item": None})
