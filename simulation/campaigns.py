"""Offline campaigns with planted bad actors, for measuring QC without services (pure).

``pairwise_campaign(seed)``: a pairwise-preference campaign ("a": response A better), its
judgments in the QC contract of ``qc.pipeline.run_layers`` (task, worker, label,
lead_time_s, created_at, swapped, is_gold), the gold answers, the truth of every item and
which experts are bad actors (worker -> kind). Experts take work from a queue in sessions
spread over several days, each at their own rate; every item gets exactly ``k`` judgments
from distinct experts; about one judgment in ten of each expert is on a gold item, as a
platform mixes gold into each expert's stream.

``ordinal_campaign(seed)``: a Likert campaign (a 5-point scale) of honest experts of
mixed accuracy and a few random clickers, in the same contract, for measuring aggregation.

``text_campaign(seed)``: free-text work (one or two writers per prompt) with one
copy-paster, in the contract of ``qc.pipeline.run_text_layers``.

Deterministic: everything is drawn from ``numpy.random.default_rng(seed)``.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from simulation.answers import _wrong

LABELS = ("a", "b")
#: the pairwise task type's sides (``annoflow.tasktypes.pairwise_preference``)
SIDES = {"a": "left", "b": "right"}
START = pd.Timestamp("2026-11-02 06:00", tz="UTC")
#: the kinds of planted bad actor; "copier" only in odd seeds
KINDS = ("fast_clicker", "slow_clicker", "left_biased", "careless")


@dataclass(frozen=True)
class Expert:
    worker: str
    kind: str                 # "honest" or one of KINDS / "copier"
    accuracy: float           # planned accuracy (random clickers 0.5; careless: the start)
    median_lead_time_s: float
    rate: float               # relative share of the queue's work they ask for
    source: str | None = None  # a copier's source


@dataclass(frozen=True)
class PairwiseCampaign:
    judgments: pd.DataFrame   # task, worker, label, lead_time_s, created_at, swapped, is_gold
    gold: pd.Series           # task -> label, the gold items
    truth: pd.Series          # task -> label, every item
    bad: dict[str, str]       # worker -> kind, the planted bad actors
    experts: pd.DataFrame     # per worker: kind, accuracy, median_lead_time_s, rate, source


@dataclass(frozen=True)
class TextCampaign:
    texts: pd.DataFrame       # task, worker, label (the text), lead_time_s, created_at
    prompts: pd.Series        # task -> prompt
    bad: dict[str, str]       # worker -> kind
    experts: pd.DataFrame = field(default_factory=pd.DataFrame)


def _lead_times(rng: np.random.Generator, median: float, n: int, sigma: float = 0.4) -> np.ndarray:
    return median * np.exp(sigma * rng.standard_normal(n))


def _experts(rng: np.random.Generator, n_experts: int, copier: bool) -> list[Expert]:
    kinds = list(KINDS) + (["copier"] if copier else [])
    kinds += ["honest"] * (n_experts - len(kinds))
    kinds = [kinds[i] for i in rng.permutation(n_experts)]
    names = [f"e{i:02d}" for i in range(n_experts)]
    honest = [w for w, k in zip(names, kinds) if k == "honest"]
    source = str(rng.choice(honest)) if copier else None
    out = []
    for w, kind in zip(names, kinds):
        median = float(rng.uniform(3.0, 5.0) if kind == "fast_clicker" else rng.uniform(40.0, 90.0))
        accuracy = {"slow_clicker": 0.5, "fast_clicker": 0.5, "careless": 0.9}.get(
            kind, float(rng.uniform(0.8, 0.95)))
        out.append(Expert(w, kind, accuracy, median, float(rng.lognormal(0.0, 0.4)),
                          source if kind == "copier" else None))
    return out


def _requests(rng: np.random.Generator, e: Expert, capacity: int, span_days: int
              ) -> list[tuple[pd.Timestamp, str, float]]:
    """An expert's requests for work, (time asked, worker, lead time): sessions of a few to
    a couple of dozen judgments at random times of their working day, back to back inside a
    session, never overlapping."""
    offset_h = rng.uniform(-4.0, 6.0)  # where their working day falls
    n_sessions = max(1, int(np.ceil(capacity / 12)))
    starts = np.sort(rng.integers(0, span_days, n_sessions) * 24.0 + offset_h
                     + rng.uniform(2.0, 12.0, n_sessions))
    sizes = rng.multinomial(capacity - n_sessions, np.full(n_sessions, 1 / n_sessions)) + 1
    out, free_at = [], -np.inf
    for start_h, size in zip(starts, sizes):
        t = max(start_h * 3600.0, free_at + 600.0)
        for lead in _lead_times(rng, e.median_lead_time_s, int(size)):
            out.append((START + pd.Timedelta(seconds=float(t)), e.worker, float(lead)))
            t += lead + rng.exponential(15.0)
        free_at = t
    return out


def _assign(rng: np.random.Generator, experts: list[Expert], tasks: list[str], gold: set[str],
            k: int, span_days: int) -> pd.DataFrame:
    """Who judges what, when: requests served in time order from the queue (the first item
    in queue order with a free slot the expert has not judged), a gold item instead when the
    expert is due one (about one in ten of their judgments, at a phase of their own). A
    copier takes a slot on 9 in 10 of the items their source is served (their source is
    then served the first item with room for both), submitting 1-20 minutes after them."""
    by_name = {e.worker: e for e in experts}
    takers = [e for e in experts if e.kind != "copier"]
    copier = next((e for e in experts if e.kind == "copier"), None)
    slots = len(tasks) * k
    rates = np.array([e.rate for e in takers])
    # asked for: ~20% more than the queue holds, so the queue empties before the last sessions
    caps = np.ceil(1.2 * slots * rates / rates.sum()).astype(int)
    requests = [r for e, c in zip(takers, caps) for r in _requests(rng, e, int(c), span_days)]
    requests.sort(key=lambda r: (r[0], r[1]))
    work = [t for t in tasks if t not in gold]
    gold_queue = [t for t in tasks if t in gold]
    free = {t: k for t in tasks}
    judged: dict[str, set[str]] = {e.worker: set() for e in experts}
    n_done = {e.worker: 0 for e in experts}
    n_gold = {e.worker: 0 for e in experts}
    phase = {e.worker: int(rng.integers(0, 10)) for e in experts}
    rows: list[tuple[str, str, pd.Timestamp, float]] = []

    def first_open(queue: list[str], w: str, ok: Callable[[str], bool] | None = None
                   ) -> str | None:
        return next((t for t in queue if free[t] > 0 and t not in judged[w]
                     and (ok is None or ok(t))), None)

    def take(t: str, w: str, at: pd.Timestamp, lead: float) -> None:
        free[t] -= 1
        judged[w].add(t)
        n_done[w] += 1
        n_gold[w] += t in gold
        rows.append((t, w, at, lead))

    for asked, w, lead in requests:
        if not any(free.values()):
            break
        # a copier asks for the item their source is served: the source is served, 9 times
        # in 10, an item with room for both that neither has judged
        mate = copier.worker if copier is not None and w == copier.source \
            and rng.random() < 0.9 else None
        ok = (lambda t, m=mate: free[t] >= 2 and t not in judged[m]) if mate else None
        due = n_gold[w] < (n_done[w] + phase[w]) // 10
        t = (first_open(gold_queue, w, ok) if due else None) or first_open(work, w, ok) \
            or first_open(gold_queue, w, ok)
        if t is None and mate:
            mate, t = None, first_open(work, w) or first_open(gold_queue, w)
        if t is None:
            continue
        at = asked + pd.Timedelta(seconds=lead)
        take(t, w, at, lead)
        if mate is not None and copier is not None:
            lag = pd.Timedelta(seconds=float(rng.uniform(60.0, 1200.0)))
            take(t, mate, at + lag, float(_lead_times(rng, copier.median_lead_time_s, 1)[0]))
    # the rare slots left at the end: whoever has not judged the item, after the last one
    last = max(r[2] for r in rows)
    for t in tasks:
        while free[t] > 0:
            w = str(rng.choice([e.worker for e in takers if t not in judged[e.worker]]))
            lead = float(_lead_times(rng, by_name[w].median_lead_time_s, 1)[0])
            last += pd.Timedelta(seconds=lead + 60.0)
            take(t, w, last, lead)
    out = pd.DataFrame(rows, columns=["task", "worker", "created_at", "lead_time_s"])
    return out.sort_values(["created_at", "worker"], kind="stable").reset_index(drop=True)


def _labels(rng: np.random.Generator, data: pd.DataFrame, experts: list[Expert],
            truth: pd.Series) -> np.ndarray:
    """Each judgment's label, per expert in their submission order (``data`` is sorted by
    time); a copier's after their source's."""
    y = truth.reindex(data["task"]).to_numpy()
    other = np.where(y == "a", "b", "a")
    left = np.where(data["swapped"].to_numpy(), "b", "a")  # the label of the left response
    label = np.empty(len(data), dtype=object)
    order = sorted(experts, key=lambda e: e.kind == "copier")
    for e in order:
        idx = np.flatnonzero(data["worker"].to_numpy() == e.worker)
        n = len(idx)
        u = rng.random(n)
        if e.kind in ("fast_clicker", "slow_clicker"):
            label[idx] = np.where(u < 0.5, "a", "b")
        elif e.kind == "careless":
            acc = np.linspace(0.9, 0.6, n) if n > 1 else np.array([0.9])
            label[idx] = np.where(u < acc, y[idx], other[idx])
        elif e.kind == "left_biased":
            honest = np.where(rng.random(n) < e.accuracy, y[idx], other[idx])
            label[idx] = np.where(u < 0.8, left[idx], honest)
        elif e.kind == "copier":
            src = data.loc[data["worker"] == e.source, ["task"]].assign(
                label=label[np.flatnonzero(data["worker"].to_numpy() == e.source)])
            copied = data.iloc[idx][["task"]].merge(src, on="task", how="left")["label"].to_numpy()
            random = np.where(rng.random(n) < 0.5, "a", "b")
            label[idx] = np.where((u < 0.9) & pd.notna(copied), copied, random)
        else:
            label[idx] = np.where(u < e.accuracy, y[idx], other[idx])
    return label


def pairwise_campaign(seed: int, *, n_items: int = 300, k: int = 3, gold_share: float = 0.1,
                      n_experts: int = 20, share_a: float = 0.6, span_days: int = 5,
                      copier: bool | None = None) -> PairwiseCampaign:
    """One offline pairwise campaign with the four planted bad actors (and a copier in odd
    seeds unless ``copier`` says otherwise)."""
    rng = np.random.default_rng(seed)
    copier = seed % 2 == 1 if copier is None else copier
    experts = _experts(rng, n_experts, copier)
    tasks = [f"p{i:03d}" for i in range(n_items)]
    truth = pd.Series(np.where(rng.random(n_items) < share_a, "a", "b"),
                      index=pd.Index(tasks, name="task"), name="label")
    gold_tasks = set(rng.choice(tasks, int(round(gold_share * n_items)), replace=False).tolist())
    queue = [tasks[i] for i in rng.permutation(n_items)]
    swapped = pd.Series(rng.random(n_items) < 0.5, index=tasks)
    data = _assign(rng, experts, queue, gold_tasks, k, span_days)
    data["swapped"] = swapped.reindex(data["task"]).to_numpy()
    data["is_gold"] = data["task"].isin(gold_tasks).to_numpy()
    data["label"] = _labels(rng, data, experts, truth)
    data = data[["task", "worker", "label", "lead_time_s", "created_at", "swapped", "is_gold"]]
    gold = truth[truth.index.isin(gold_tasks)]
    table = pd.DataFrame([e.__dict__ for e in experts]).set_index("worker")
    bad = {e.worker: e.kind for e in experts if e.kind != "honest"}
    return PairwiseCampaign(data, gold, truth, bad, table)


# -- ordinal (Likert) ------------------------------------------------------------------

#: a 5-point scale and how often each point is the true rating
SCALE = ("1", "2", "3", "4", "5")
SCALE_SHARES = (0.10, 0.15, 0.30, 0.30, 0.15)


@dataclass(frozen=True)
class OrdinalCampaign:
    judgments: pd.DataFrame   # task, worker, label, lead_time_s, created_at, is_gold
    gold: pd.Series           # task -> label, the gold items
    truth: pd.Series          # task -> label, every item
    experts: pd.DataFrame     # per worker: kind ("honest" | "random_clicker"), accuracy, ...


def ordinal_campaign(seed: int, *, n_items: int = 300, k: int = 3, gold_share: float = 0.1,
                     n_experts: int = 20, n_clickers: int = 2,
                     accuracy: tuple[float, float] = (0.6, 0.95),
                     span_days: int = 5) -> OrdinalCampaign:
    """One offline Likert campaign: experts right with their accuracy (uniform in
    ``accuracy``), a wrong rating usually one step off (``simulation.answers``), and
    ``n_clickers`` random clickers (any point, uniformly); work served as in
    ``pairwise_campaign`` (sessions over days, about one judgment in ten on gold)."""
    rng = np.random.default_rng(20_000 + seed)
    kinds = ["random_clicker"] * n_clickers + ["honest"] * (n_experts - n_clickers)
    kinds = [kinds[i] for i in rng.permutation(n_experts)]
    experts = [Expert(f"r{i:02d}", kind,
                      1 / len(SCALE) if kind == "random_clicker" else float(rng.uniform(*accuracy)),
                      float(rng.uniform(40.0, 90.0)), float(rng.lognormal(0.0, 0.4)))
               for i, kind in enumerate(kinds)]
    tasks = [f"l{i:03d}" for i in range(n_items)]
    truth = pd.Series(rng.choice(SCALE, n_items, p=SCALE_SHARES),
                      index=pd.Index(tasks, name="task"), name="label")
    gold_tasks = set(rng.choice(tasks, int(round(gold_share * n_items)), replace=False).tolist())
    data = _assign(rng, experts, [tasks[i] for i in rng.permutation(n_items)], gold_tasks, k,
                   span_days)
    data["is_gold"] = data["task"].isin(gold_tasks).to_numpy()
    by_name = {e.worker: e for e in experts}
    draw = random.Random(seed)
    data["label"] = [draw.choice(SCALE) if by_name[w].kind == "random_clicker"
                     else truth[t] if draw.random() < by_name[w].accuracy
                     else _wrong(draw, SCALE, truth[t], ordinal=True)
                     for t, w in zip(data["task"], data["worker"])]
    data = data[["task", "worker", "label", "lead_time_s", "created_at", "is_gold"]]
    table = pd.DataFrame([e.__dict__ for e in experts]).set_index("worker")
    return OrdinalCampaign(data, truth[truth.index.isin(gold_tasks)], truth, table)


# -- free text ---------------------------------------------------------------------------

_TOPICS = ["caching", "retries", "logging", "indexes", "migrations", "timeouts", "queues",
           "backups", "tests", "secrets", "pagination", "locks", "schemas", "metrics"]
_CONTEXTS = ["a small web service", "a nightly batch job", "a mobile app backend",
             "a data pipeline", "a command-line tool", "a shared library"]
_WORDS = ("first second measure keep check avoid prefer split write read store send wait "
          "retry cache index lock limit batch stream queue worker client server request "
          "response error failure budget latency memory disk network thread process file "
          "table column row key value version release deploy rollback alert dashboard "
          "owner review change small large slow fast cheap costly simple careful explicit "
          "clear because then otherwise usually rarely always never before after during "
          "until unless while where when which that this those these our their your").split()
PASTE = "Thanks for the question, it depends on the situation and the requirements."


def text_campaign(seed: int, *, n_prompts: int = 100, n_writers: int = 10,
                  span_days: int = 5) -> TextCampaign:
    """Prompts answered by one or two writers each; one writer (the ``copy_paster``) pastes
    the prompt back or the same stock text again and again, the others write texts of their
    own (a few minutes each)."""
    rng = np.random.default_rng(10_000 + seed)
    names = [f"x{i:02d}" for i in range(n_writers)]
    paster = names[int(rng.integers(0, n_writers))]
    rate = dict(zip(names, rng.lognormal(0.0, 0.4, n_writers)))
    median = {w: float(rng.uniform(150.0, 400.0)) for w in names}
    tasks = [f"q{i:03d}" for i in range(n_prompts)]
    prompts = pd.Series([f"How would you handle {rng.choice(_TOPICS)} in "
                         f"{rng.choice(_CONTEXTS)}? (case {i})" for i in range(n_prompts)],
                        index=pd.Index(tasks, name="task"), name="prompt")
    p = np.array([rate[w] for w in names])
    rows = []
    for t in tasks:
        n = 1 if rng.random() < 0.5 else 2
        for w in rng.choice(names, n, replace=False, p=p / p.sum()):
            w = str(w)
            lead = float(_lead_times(rng, median[w], 1)[0])
            at = START + pd.Timedelta(seconds=float(rng.uniform(0, span_days * 86400.0)))
            if w == paster:
                text = str(prompts[t]) if rng.random() < 0.5 else PASTE
            else:
                words = rng.choice(_WORDS, int(rng.integers(15, 40)))
                text = " ".join(words).capitalize() + "."
            rows.append((t, w, text, lead, at))
    texts = pd.DataFrame(rows, columns=["task", "worker", "label", "lead_time_s", "created_at"])
    texts = texts.sort_values("created_at", kind="stable").reset_index(drop=True)
    table = pd.DataFrame({"kind": ["copy_paster" if w == paster else "honest" for w in names],
                          "median_lead_time_s": [median[w] for w in names],
                          "rate": [rate[w] for w in names]}, index=pd.Index(names, name="worker"))
    return TextCampaign(texts, prompts, {paster: "copy_paster"}, table)
