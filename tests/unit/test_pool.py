"""The talent pool (issue 8): importing pool files into the store, and explainable matching.

Each kind of bad row is refused with its file, row and field, and a file with any bad row
changes nothing. Ranking's hard constraints and named score parts are checked against
values worked out by hand, and an expert's quality history moves them, shrunk toward the
prior while the record is short.
"""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest

from annoflow.errors import DataError
from annoflow.pool import PRIOR_STRENGTH, QUALITY_PRIOR, RATE_REF, MatchWeights
from connectors.pool_registry import MatchRequest, PoolRegistry
from connectors.state import StateStore
from simulation.pool import generate_pool

TODAY = date(2026, 11, 27)
GOOD = {"expert_id": "ex-1", "name": "Ada Lovelace", "email": "ada@example.org",
        "domains": "medicine;law", "languages": "en;fr", "hourly_rate_usd": 100,
        "weekly_hours": 20, "vetting": "medicine:0.9:2026-05-01;law:0.7",
        "subspecialties": "medicine:cardiology", "timezone": "Europe/Paris",
        "banned": "false", "excluded_clients": "", "skills": "triage"}


@pytest.fixture()
def registry(tmp_path) -> PoolRegistry:
    return PoolRegistry(StateStore(f"sqlite:///{tmp_path / 'state.db'}"))


def _write(tmp_path, rows: list[dict], name: str = "pool.csv") -> str:
    path = tmp_path / name
    if name.endswith(".csv"):
        pd.DataFrame(rows).to_csv(path, index=False)
    elif name.endswith(".jsonl"):
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        pd.DataFrame(rows).to_parquet(path)
    return str(path)


#: (change to a good row, field named, words in the message): one per kind of bad row
BAD_ROWS = [
    ({"expert_id": ""}, "expert_id", "empty"),
    ({"expert_id": "ex 1/../x"}, "expert_id", "expected letters, digits"),
    ({"name": ""}, "name", "empty"),
    ({"name": "Ada\x07Lovelace"}, "name", "without control characters"),
    ({"email": "ada-at-example.org"}, "email", "expected an email address"),
    ({"domains": ""}, "domains", "expected at least one domain"),
    ({"domains": "Medicine"}, "domains", "lowercase slugs"),
    ({"domains": "law;law"}, "domains", "listed twice"),
    ({"languages": ""}, "languages", "at least one language code"),
    ({"languages": "english"}, "languages", "a language code such as en"),
    ({"hourly_rate_usd": "lots"}, "hourly_rate_usd", "expected a number between 0 and 10000"),
    ({"hourly_rate_usd": -5}, "hourly_rate_usd", "between 0 and 10000"),
    ({"weekly_hours": 200}, "weekly_hours", "between 0 and 168"),
    ({"vetting_score": 1.5, "vetting": ""}, "vetting_score", "between 0 and 1"),
    ({"vetting": "medicine=0.9"}, "vetting", "expected domain:score"),
    ({"vetting": "music:0.9"}, "vetting", "not one of the expert's domains"),
    ({"vetting": "medicine:0.9:05/01/2026"}, "vetting", "expected a date YYYY-MM-DD"),
    ({"vetting": "medicine:0.9:2027-01-01"}, "vetting", "in the future"),
    ({"subspecialties": "music:jazz"}, "subspecialties", "domain:subspecialty"),
    ({"timezone": "Mars/Olympus"}, "timezone", "IANA time zone"),
    ({"banned": "maybe"}, "banned", "expected true or false"),
    ({"excluded_clients": "acme labs!"}, "excluded_clients", "expected client ids"),
]


@pytest.mark.parametrize("change,field,words", BAD_ROWS, ids=[f"{b[1]}-{i}" for i, b in
                                                              enumerate(BAD_ROWS)])
def test_a_bad_row_is_refused_with_file_row_and_field_and_nothing_changes(
        registry, tmp_path, change, field, words) -> None:
    registry.import_file(_write(tmp_path, [{**GOOD, "expert_id": "ex-0", "email": "x@e.org"}],
                                "first.csv"), today=TODAY)
    before = registry.profiles()
    path = _write(tmp_path, [{**GOOD, "expert_id": "ex-2", "email": "b@example.org"},
                             {**GOOD, **change}])
    with pytest.raises(DataError) as err:
        registry.import_file(path, today=TODAY)
    msg = str(err.value)
    assert f"{path}: row 2, field {field}: " in msg and words in msg, msg
    assert "nothing was imported" in msg
    assert registry.profiles() == before  # not even the good row


def test_file_level_problems_duplicates_and_emails_taken(registry, tmp_path) -> None:
    missing = _write(tmp_path, [{k: v for k, v in GOOD.items() if k != "weekly_hours"}], "m.csv")
    with pytest.raises(DataError, match=r"field weekly_hours: missing column\(s\) \['weekly_hours'\]"):
        registry.import_file(missing, today=TODAY)
    typo = _write(tmp_path, [{**GOOD, "vettting": "x"}], "t.csv")
    with pytest.raises(DataError, match=r"unknown column\(s\) \['vettting'\]"):
        registry.import_file(typo, today=TODAY)
    twice = _write(tmp_path, [GOOD, {**GOOD, "email": "other@example.org"}], "d.csv")
    with pytest.raises(DataError, match=r"row 2, field expert_id: duplicate id 'ex-1' \(also on row 1\)"):
        registry.import_file(twice, today=TODAY)
    shared = _write(tmp_path, [GOOD, {**GOOD, "expert_id": "ex-2"}], "s.csv")
    with pytest.raises(DataError, match="row 2, field email: email already given for another expert"):
        registry.import_file(shared, today=TODAY)
    registry.import_file(_write(tmp_path, [GOOD], "ok.csv"), today=TODAY)
    taken = _write(tmp_path, [{**GOOD, "expert_id": "ex-9"}], "taken.csv")
    with pytest.raises(DataError, match="row 1, field email: already the email of expert 'ex-1'"):
        registry.import_file(taken, today=TODAY)
    empty = tmp_path / "empty.csv"
    empty.write_text(",".join(GOOD) + "\n")
    with pytest.raises(DataError, match="no rows"):
        registry.import_file(str(empty), today=TODAY)
    assert [p.expert_id for p in registry.profiles()] == ["ex-1"]


@pytest.mark.parametrize("name", ["pool.csv", "pool.jsonl", "pool.parquet"])
def test_import_reads_every_format_and_is_idempotent(registry, tmp_path, name) -> None:
    rows = [GOOD, {**GOOD, "expert_id": "ex-2", "email": "b@example.org", "domains": "law",
                   "vetting": "", "vetting_score": 0.8, "subspecialties": "", "banned": "true",
                   "ban_reason": "conduct", "excluded_clients": "acme;globex"}]
    path = _write(tmp_path, rows, name)
    first = registry.import_file(path, today=TODAY)
    assert (first.rows, first.added, first.changed, first.unchanged) == (2, 2, 0, 0)
    again = registry.import_file(path, today=TODAY)
    assert (again.added, again.changed, again.unchanged) == (0, 0, 2)
    ada, other = registry.profiles()
    assert [(d.domain, d.vetting_score, d.vetted_at, d.subspecialties) for d in ada.domains] == [
        ("law", 0.7, None, []), ("medicine", 0.9, date(2026, 5, 1), ["cardiology"])]
    assert ada.languages == ["en", "fr"] and ada.timezone == "Europe/Paris"
    assert [(d.domain, d.vetting_score) for d in other.domains] == [("law", 0.8)]
    assert other.banned and other.excluded_clients == ["acme", "globex"]
    # a changed row replaces the profile, and only that one
    changed = registry.import_file(_write(tmp_path, [{**GOOD, "weekly_hours": 5}, rows[1]], name),
                                   today=TODAY)
    assert (changed.added, changed.changed, changed.unchanged) == (0, 1, 1)
    assert registry.profiles(["ex-1"])[0].weekly_hours == 5


def _pool(registry, tmp_path, rows: list[dict]) -> None:
    base = {"name": "X", "domains": "medicine", "languages": "en", "hourly_rate_usd": 100,
            "weekly_hours": 40, "vetting_score": 0.8}
    registry.import_file(_write(tmp_path, [{**base, "email": f"{r['expert_id']}@e.org", **r}
                                           for r in rows], "rank.csv"), today=TODAY)


def test_ranking_applies_every_hard_constraint(registry, tmp_path) -> None:
    _pool(registry, tmp_path, [
        {"expert_id": "ok"},
        {"expert_id": "other-domain", "domains": "law"},
        {"expert_id": "no-french", "languages": "en"},
        {"expert_id": "low-vetting", "vetting_score": 0.5},
        {"expert_id": "banned", "banned": "true"},
        {"expert_id": "excluded", "excluded_clients": "acme"},
        {"expert_id": "no-hours", "weekly_hours": 0},
    ])
    req = MatchRequest(domain="medicine", languages=["en"], client="acme", min_vetting_score=0.6)
    ranked, eligible = registry.rank(req)
    assert list(ranked["expert_id"]) == ["no-french", "ok"] and eligible == 2
    french = MatchRequest(domain="medicine", languages=["en", "fr"], client="acme")
    _pool(registry, tmp_path, [{"expert_id": "ok", "languages": "en;fr"}])
    assert list(registry.rank(french)[0]["expert_id"]) == ["ok"]
    # another client does not exclude them
    other = MatchRequest(domain="medicine", languages=["en"], client="globex", min_vetting_score=0.6)
    assert set(registry.rank(other)[0]["expert_id"]) == {"ok", "no-french", "excluded"}


def test_score_parts_are_as_documented(registry, tmp_path) -> None:
    _pool(registry, tmp_path, [{"expert_id": "a", "hourly_rate_usd": 50, "weekly_hours": 10,
                                "vetting_score": 0.9, "subspecialties": "medicine:cardiology"}])
    w = MatchWeights(domain_fit=1, quality=2, vetting=3, cost=4, availability=5)
    req = MatchRequest(domain="medicine", languages=["en"], client="c", weights=w,
                       subspecialties=["cardiology", "oncology"])
    r = registry.rank(req)[0].iloc[0]
    parts = {"domain_fit": 0.5, "quality": QUALITY_PRIOR, "vetting": 0.9,
             "cost": RATE_REF / (RATE_REF + 50), "availability": 10 / 40}
    for k, v in parts.items():
        assert r[k] == pytest.approx(v), k
    total = 1 + 2 + 3 + 4 + 5
    assert r["score"] == pytest.approx(sum(getattr(w, k) * v for k, v in parts.items()) / total)


def test_a_short_lucky_record_does_not_outrank_a_long_good_one(registry, tmp_path) -> None:
    _pool(registry, tmp_path, [{"expert_id": "lucky"}, {"expert_id": "steady"},
                               {"expert_id": "new"}])
    req = MatchRequest(domain="medicine", languages=["en"], client="c")
    assert list(registry.rank(req)[0]["expert_id"]) == ["lucky", "new", "steady"]  # by id
    registry.record_quality("medicine", pd.DataFrame([
        {"expert_id": "lucky", "gold_judged": 3, "gold_right": 3, "judgments": 10},
        {"expert_id": "steady", "gold_judged": 300, "gold_right": 276, "judgments": 2000}]))
    ranked = registry.rank(req)[0].set_index("expert_id")
    assert list(ranked.index) == ["steady", "lucky", "new"]
    assert ranked.at["lucky", "quality"] == pytest.approx(
        (3 + PRIOR_STRENGTH * QUALITY_PRIOR) / (3 + PRIOR_STRENGTH))
    assert ranked.at["steady", "quality"] == pytest.approx(
        (276 + PRIOR_STRENGTH * QUALITY_PRIOR) / (300 + PRIOR_STRENGTH))
    assert ranked.at["new", "quality"] == pytest.approx(QUALITY_PRIOR)
    # a poor record sinks below the prior
    registry.record_quality("medicine", pd.DataFrame([
        {"expert_id": "lucky", "gold_judged": 60, "gold_right": 30}]))
    assert list(registry.rank(req)[0]["expert_id"]) == ["steady", "new", "lucky"]
    assert registry.quality("lucky")["medicine"]["campaigns"] == 2
    assert registry.quality("lucky")["medicine"]["gold_judged"] == 63


def test_hours_booked_by_other_active_campaigns_count_against_availability(registry, tmp_path) -> None:
    _pool(registry, tmp_path, [{"expert_id": "a", "weekly_hours": 20},
                               {"expert_id": "b", "weekly_hours": 20}])
    state = registry.state
    state.begin_campaign(request_id="other", client="c")
    state.set_stage(request_id="other", stage="producing", actor="test")
    state.set_roster(request_id="other", expert_ids=["a", "b"], booked_hours={"a": 20, "b": 5},
                     actor="test")
    req = MatchRequest(domain="medicine", languages=["en"], client="c", request_id="mine")
    ranked = registry.rank(req)[0].set_index("expert_id")
    assert list(ranked.index) == ["b"] and ranked.at["b", "weekly_hours"] == 15
    # its own bookings do not count against a campaign (submitted again)
    assert len(registry.rank(MatchRequest(domain="medicine", languages=["en"], client="c",
                                          request_id="other"))[0]) == 2
    state.set_stage(request_id="other", stage="delivered", actor="test")
    assert len(registry.rank(req)[0]) == 2  # a finished campaign books nothing


def test_generated_pools_import_cleanly_and_rank(registry, tmp_path) -> None:
    pool = generate_pool(3000, seed=7)
    assert pool["expert_id"].is_unique and pool["email"].is_unique
    assert generate_pool(50, seed=7).equals(generate_pool(50, seed=7))
    path = tmp_path / "gen.parquet"
    pool.to_parquet(path)
    result = registry.import_file(str(path), today=TODAY)
    assert result.added == 3000
    req = MatchRequest(domain="medicine", languages=["en"], client="acme-labs",
                       min_vetting_score=0.6)
    ranked, eligible = registry.rank(req, limit=25)
    assert len(ranked) == 25 < eligible and ranked["score"].is_monotonic_decreasing
    medicine = pool[pool["domains"].str.split(";").map(lambda d: "medicine" in d)]
    assert eligible < len(medicine)  # vetting, bans, exclusions and hours keep some out


def test_a_campaign_recorded_again_counts_each_judgment_once(registry, tmp_path) -> None:
    _pool(registry, tmp_path, [{"expert_id": "a"}, {"expert_id": "b"}])
    first = pd.DataFrame([{"expert_id": "a", "gold_judged": 10, "gold_right": 9, "judgments": 40},
                          {"expert_id": "b", "gold_judged": 10, "gold_right": 4, "judgments": 40},
                          {"expert_id": "not-in-pool", "judgments": 5}])
    assert registry.record_campaign("c1", "medicine", first) == 2
    assert registry.record_campaign("c1", "medicine", first) == 0  # the same measure again
    later = first.assign(gold_judged=[20, 12, 0], gold_right=[18, 5, 0], judgments=[80, 44, 5])
    registry.record_campaign("c1", "medicine", later, outcomes={"b": ("removed", "gold accuracy 42%")})
    a, b = registry.quality("a")["medicine"], registry.quality("b")["medicine"]
    assert (a["gold_judged"], a["gold_right"], a["judgments"], a["campaigns"]) == (20, 18, 80, 1)
    assert (b["gold_judged"], b["gold_right"], b["campaigns"]) == (12, 5, 1)
    rec = registry.campaign_quality("c1").set_index("expert_id")
    assert rec.at["b", "outcome"] == "removed" and rec.at["b", "reason"] == "gold accuracy 42%"
    assert "not-in-pool" not in rec.index
    registry.record_campaign("c2", "medicine", first.head(1))  # another campaign adds
    assert registry.quality("a")["medicine"]["campaigns"] == 2
    assert registry.quality("a")["medicine"]["gold_judged"] == 30


def test_feedback_changes_the_next_campaigns_ranking(registry, tmp_path) -> None:
    """The order before and after a campaign: the expert who did badly drops, the one who
    did well rises, past better-vetted newcomers."""
    _pool(registry, tmp_path, [{"expert_id": "strong-vetting", "vetting_score": 0.95},
                               {"expert_id": "weak-worker", "vetting_score": 0.9},
                               {"expert_id": "good-worker", "vetting_score": 0.8}])
    req = MatchRequest(domain="medicine", languages=["en"], client="c")
    before = list(registry.rank(req)[0]["expert_id"])
    assert before == ["strong-vetting", "weak-worker", "good-worker"]
    registry.record_campaign("c1", "medicine", pd.DataFrame([
        {"expert_id": "weak-worker", "gold_judged": 40, "gold_right": 18,
         "agreement_judged": 100, "agreement_sum": 55, "judgments": 140},
        {"expert_id": "good-worker", "gold_judged": 40, "gold_right": 39,
         "agreement_judged": 100, "agreement_sum": 97, "judgments": 140}]))
    after = list(registry.rank(req)[0]["expert_id"])
    assert after == ["good-worker", "strong-vetting", "weak-worker"]
