"""Scoping: the campaign plan a delivery manager signs off (pure)."""
from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
from pydantic import BaseModel

from annoflow.roster import StaffedExpert, staffing
from annoflow.spec import RequestSpec


class QualificationPlan(BaseModel):
    """The qualification round before production."""
    items: int
    pass_mark: float
    expected_pass_rate: float   # the domain's record, shrunk toward a prior
    candidates: int             # shortlisted to fill the roster after the expected failures


class CampaignPlan(BaseModel):
    request_id: str
    task_type: str
    items: int
    gold_items: int
    annotators_per_item: int
    max_annotators_per_item: int = 0  # dynamic overlap: the most an unsure item gets
    gold_rate: float          # share of every expert's stream that is hidden gold
    judgments: int            # paid answers: the items', gold's and swap probes'
    swap_probe_answers: int = 0  # answers to swap probes (qc.swap_probe_share), in judgments
    seconds_per_judgment: float
    expert_hours: float
    roster_size: int
    eligible_experts: int
    roster_weekly_hours: float
    weeks_to_finish: float
    experts_needed_by_deadline: int | None
    deadline: date | None
    expected_cost_usd: float
    most_cost_usd: float = 0.0  # every item at max_annotators_per_item
    budget_usd: float | None
    quarantined_rows: int
    warnings: list[str]
    #: why the request cannot be done as asked, each with what would fix it (blocking)
    infeasible: list[str] = []
    #: every chosen expert (with a qualification: every candidate) with their score and
    #: its named parts
    staffing: list[StaffedExpert] = []
    qualification: QualificationPlan | None = None

    def to_text(self) -> str:
        lines = [
            f"Plan for {self.request_id} ({self.task_type})",
            f"  items                {self.items:,} + {self.gold_items:,} hidden gold",
            f"  judgments            {self.judgments:,} ({self.annotators_per_item} per item"
            + (f", up to {self.max_annotators_per_item} on unsure items"
               if self.max_annotators_per_item > self.annotators_per_item else "")
            + (f"; {self.gold_rate:.0%} of each expert's stream is hidden gold"
               if self.gold_items else "")
            + (f"; {self.swap_probe_answers:,} answers to swap probes"
               if self.swap_probe_answers else "") + ")",
            f"  expert time          {self.expert_hours:,.1f} h at {self.seconds_per_judgment:.0f} s "
            f"per judgment",
            f"  roster               {self.roster_size} of {self.eligible_experts} eligible experts, "
            f"{self.roster_weekly_hours:,.0f} h/week together",
            f"  duration             {self.weeks_to_finish:,.1f} weeks at full availability",
            f"  expected cost        ${self.expected_cost_usd:,.0f}"
            + (f" of a ${self.budget_usd:,.0f} budget" if self.budget_usd else "")
            + (f" (at most ${self.most_cost_usd:,.0f} if every item needed "
               f"{self.max_annotators_per_item})"
               if self.max_annotators_per_item > self.annotators_per_item else ""),
        ]
        if q := self.qualification:
            lines.append(f"  qualification        {q.candidates} candidates answer {q.items} items "
                         f"each; {q.pass_mark:.0%} right to be rostered (about "
                         f"{q.expected_pass_rate:.0%} pass in this domain)")
        if self.deadline:
            lines.append(f"  deadline             {self.deadline} (needs "
                         f"{self.experts_needed_by_deadline} expert(s) at the roster's average "
                         f"availability)")
        if self.quarantined_rows:
            lines.append(f"  quarantined rows     {self.quarantined_rows}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  infeasible: {w}" for w in self.infeasible]
        if self.staffing:
            lines.append(f"  staffing             {'expert':<14} {'score':>6}  "
                         + "  ".join(f"{p:>12}" for p in self.staffing[0].parts))
            lines += [f"  {s.rank:>19}. {s.expert_id:<14} {s.score:6.3f}  "
                      + "  ".join(f"{v:12.3f}" for v in s.parts.values()) for s in self.staffing]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        rows = [("Items", f"{self.items:,}"), ("Hidden gold items", f"{self.gold_items:,}"),
                ("Judgments", f"{self.judgments:,}"), ("Expert hours", f"{self.expert_hours:,.1f}"),
                ("Roster", f"{self.roster_size} of {self.eligible_experts} eligible"),
                ("Weeks to finish", f"{self.weeks_to_finish:,.1f}"),
                ("Expected cost (USD)", f"{self.expected_cost_usd:,.0f}"),
                ("Most cost (USD)", f"{self.most_cost_usd:,.0f}"),
                ("Budget (USD)", f"{self.budget_usd:,.0f}" if self.budget_usd else "none"),
                ("Deadline", str(self.deadline or "none")),
                ("Quarantined rows", str(self.quarantined_rows))]
        if q := self.qualification:
            rows.append(("Qualification", f"{q.candidates} candidates, {q.items} items, pass "
                                          f"mark {q.pass_mark:.0%} (expected pass rate "
                                          f"{q.expected_pass_rate:.0%})"))
        md = [f"# Plan: {self.request_id}", "", "| | |", "|---|---|"]
        md += [f"| {k} | {v} |" for k, v in rows]
        md += ["", *[f"- ⚠ {w}" for w in self.warnings]]
        md += [f"- ⛔ {w}" for w in self.infeasible]
        if self.staffing:
            parts = list(self.staffing[0].parts)
            md += ["", "## Staffing", "", "| rank | expert | score | " + " | ".join(parts) + " |",
                   "|---" * (3 + len(parts)) + "|"]
            md += [f"| {s.rank} | {s.expert_id} | {s.score:.3f} | "
                   + " | ".join(f"{v:.3f}" for v in s.parts.values()) + " |" for s in self.staffing]
        return "\n".join(md)


#: an expert with this many judgments has had at least qc.min_gold_judgments gold probes
GOLD_HORIZON = 20
MAX_GOLD_RATE = 0.5


def gold_rate(spec: RequestSpec) -> float:
    """The share of each expert's stream served as hidden gold: ``gold.fraction``, raised
    so that ``qc.min_gold_judgments`` probes come within the first ``GOLD_HORIZON``
    judgments (capped at one in two)."""
    if spec.gold is None:
        return 0.0
    return round(min(MAX_GOLD_RATE, max(spec.gold.fraction,
                                        spec.qc.min_gold_judgments / GOLD_HORIZON)), 4)


def _deadline_fixes(hours: float, weekly: float, days: int, roster_size: int,
                    shortlist: pd.DataFrame, today: date) -> str:
    by = weekly * days / 7
    fixes = []
    if weekly > 0:
        fixes.append(f"a deadline on or after {today + timedelta(days=math.ceil(hours / weekly * 7))}")
    cum = shortlist["weekly_hours"].cumsum().to_numpy() if len(shortlist) else []
    enough = [i + 1 for i, h in enumerate(cum) if h * days / 7 >= hours]
    if enough and enough[0] > roster_size:
        fixes.append(f"max_experts {enough[0]} (the {enough[0]} best eligible experts have "
                     f"{cum[enough[0] - 1]:,.0f} h/week left)")
    fixes.append("fewer items or judgments per item")
    return (f"the deadline cannot be met: {hours:,.0f} expert-hours are needed and the roster "
            f"of {roster_size} has {weekly:,.0f} h/week left, {by:,.0f} h by then. What would "
            f"fix it: " + "; or ".join(fixes))


def _budget_fixes(spec: RequestSpec, cost: float, hours: float, roster_size: int,
                  shortlist: pd.DataFrame) -> str:
    k = spec.workforce.annotators_per_item
    fixes = [f"a budget of at least ${math.ceil(cost):,}"]
    if roster_size and len(shortlist) >= roster_size:
        cheap = float((hours / roster_size * shortlist.nsmallest(roster_size, "hourly_rate_usd")
                       ["hourly_rate_usd"]).sum())
        if cheap <= spec.budget_usd:
            fixes.append(f"cheaper experts (a higher workforce.weights.cost: the "
                         f"{roster_size} cheapest eligible would cost ${cheap:,.0f})")
    if k > 1:
        fixes.append(f"annotators_per_item {k - 1} (about ${cost * (k - 1) / k:,.0f})")
    return (f"the budget cannot cover the work: the expected cost is ${cost:,.0f}, over the "
            f"${spec.budget_usd:,.0f} budget. What would fix it: " + "; or ".join(fixes))


def build_plan(spec: RequestSpec, *, n_items: int, n_gold: int, roster: pd.DataFrame,
               eligible: int, quarantined: int, today: date | None = None,
               shortlist: pd.DataFrame | None = None) -> CampaignPlan:
    """The plan; ``shortlist``: the best eligible experts beyond the roster too (for what
    would fix an infeasible deadline or budget)."""
    today = today or date.today()
    shortlist = roster if shortlist is None else shortlist
    k = spec.workforce.annotators_per_item
    rate = gold_rate(spec) if n_gold else 0.0
    # swap probes: a share of the items once more, for each of their judges
    probes = math.ceil(spec.qc.swap_probe_share * n_items - 1e-9) * k
    judgments = math.ceil(n_items * k / (1 - rate)) + probes  # gold rides along in every stream
    hours = judgments * spec.seconds_per_judgment / 3600
    weekly = float(roster["weekly_hours"].sum())
    weeks = hours / weekly if weekly else math.inf
    # every expert works the same share of the judgments, at their own rate
    cost = float((hours / len(roster) * roster["hourly_rate_usd"]).sum()) if len(roster) else 0.0
    warnings: list[str] = []
    infeasible: list[str] = []
    needed = None
    if spec.deadline:
        days = (spec.deadline - today).days
        avg_weekly = weekly / len(roster) if len(roster) else 0
        needed = math.ceil(hours / (avg_weekly * days / 7)) if days > 0 and avg_weekly else None
        if days <= 0:
            infeasible.append(f"the deadline {spec.deadline} has already passed. What would fix "
                              f"it: a deadline after {today}")
        elif weekly * days / 7 < hours:
            infeasible.append(_deadline_fixes(hours, weekly, days, len(roster), shortlist, today))
    top = spec.workforce.most_per_item
    most = cost * top / k
    if spec.budget_usd is not None and cost > spec.budget_usd:
        infeasible.append(_budget_fixes(spec, cost, hours, len(roster), shortlist))
    elif spec.budget_usd is not None and most > spec.budget_usd:
        warnings.append(f"budget at risk: if every item needed {top} judgments (dynamic "
                        f"overlap) the cost would be ${most:,.0f}, over the "
                        f"${spec.budget_usd:,.0f} budget")
    if eligible < 2 * k:
        warnings.append(f"talent pool thin for {spec.domain}: {eligible} eligible experts for "
                        f"{k} per item")
    if n_gold and n_gold < math.ceil(rate * judgments / max(len(roster), 1)):
        warnings.append(f"only {n_gold} gold items for about "
                        f"{math.ceil(rate * judgments / max(len(roster), 1))} gold probes per "
                        f"expert: experts who do more than their share run out of gold")
    if spec.gold is not None and n_gold < spec.qc.min_gold_judgments:
        warnings.append(f"only {n_gold} gold items: too few to judge annotator accuracy "
                        f"(qc.min_gold_judgments is {spec.qc.min_gold_judgments})")
    return CampaignPlan(
        request_id=spec.request_id, task_type=spec.task.type, items=n_items, gold_items=n_gold,
        annotators_per_item=k, max_annotators_per_item=top, gold_rate=rate, judgments=judgments,
        swap_probe_answers=probes,
        seconds_per_judgment=spec.seconds_per_judgment, expert_hours=round(hours, 2),
        roster_size=len(roster), eligible_experts=eligible, roster_weekly_hours=weekly,
        weeks_to_finish=round(weeks, 2), experts_needed_by_deadline=needed, deadline=spec.deadline,
        expected_cost_usd=round(cost, 2), most_cost_usd=round(most, 2), budget_usd=spec.budget_usd,
        quarantined_rows=quarantined, warnings=warnings, infeasible=infeasible,
        staffing=staffing(roster) if "score" in roster.columns else [])
