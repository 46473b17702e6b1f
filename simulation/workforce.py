"""Simulated experts annotating a campaign's Label Studio project.

The simulator finds the campaign's project by request id, reads the roster the sourcing
stage left in the raw zone, and for every task that still needs judgments picks experts
who have not judged it yet. Each expert answers correctly with their own accuracy
(against the hidden truth file of the profile) and takes a log-normal time per judgment;
spammers answer at random, fast.
"""
from __future__ import annotations

import hashlib
import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import pandas as pd

from annoflow.errors import SpecError
from annoflow.layout import RawZone
from annoflow.settings import Settings, get_settings
from annoflow.spec import RequestSpec
from annoflow.tasktypes import get_task_type
from connectors.datafiles import read_table
from connectors.label_studio import LabelStudioClient
from connectors.s3 import S3Store
from simulation.answers import answer

log = logging.getLogger("annoflow.simulation")


class LeadTime(BaseModel):
    model_config = ConfigDict(extra="forbid")
    median: float = Field(gt=0)
    sigma: float = Field(0.4, ge=0)


class ExpertBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    accuracy: tuple[float, float] = (0.8, 0.95)
    lead_time_s: LeadTime = LeadTime(median=75)


class SpammerBehaviour(BaseModel):
    model_config = ConfigDict(extra="forbid")
    count: int = Field(0, ge=0)
    accuracy: float = Field(0.5, ge=0, le=1)
    lead_time_s: LeadTime = LeadTime(median=4, sigma=0.3)


class SimulationProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    truth: str
    concurrency: int = Field(4, ge=1, le=16)
    experts: ExpertBehaviour = ExpertBehaviour()
    spammers: SpammerBehaviour = SpammerBehaviour()


def load_profile(path: str | Path) -> SimulationProfile:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        profile = SimulationProfile.model_validate(raw)
    except FileNotFoundError:
        raise SpecError(f"{path}: no such simulation profile") from None
    except (yaml.YAMLError, ValidationError) as err:
        raise SpecError(f"{path}: invalid simulation profile: {err}") from None
    if not Path(profile.truth).is_absolute():
        profile = profile.model_copy(update={"truth": str(Path.cwd() / profile.truth)})
    return profile


@dataclass(frozen=True)
class SimExpert:
    expert_id: str
    ls_user_id: int
    accuracy: float
    lead_median: float
    lead_sigma: float
    spammer: bool
    style: int


def _rng(*parts: object) -> random.Random:
    return random.Random(hashlib.sha256("|".join(map(str, parts)).encode()).digest())


def assign_behaviours(roster: pd.DataFrame, profile: SimulationProfile) -> list[SimExpert]:
    """Deterministic per (seed, expert): who is a spammer and how accurate each expert is."""
    ids = sorted(roster["expert_id"])
    spam = set(_rng(profile.seed, "spammers").sample(ids, min(profile.spammers.count, len(ids))))
    users = dict(zip(roster["expert_id"], roster["ls_user_id"].astype(int)))
    out = []
    for i, e in enumerate(ids):
        if e in spam:
            b = profile.spammers
            out.append(SimExpert(e, users[e], b.accuracy, b.lead_time_s.median,
                                 b.lead_time_s.sigma, True, i))
        else:
            lo, hi = profile.experts.accuracy
            acc = _rng(profile.seed, "accuracy", e).uniform(lo, hi)
            lt = profile.experts.lead_time_s
            out.append(SimExpert(e, users[e], acc, lt.median, lt.sigma, False, i))
    return out


class SimulatedWorkforce:
    """Runs in a background thread beside the flow until ``stop()``."""

    def __init__(self, spec: RequestSpec, profile: SimulationProfile,
                 settings: Settings | None = None, poll_interval_s: float = 1.0) -> None:
        self.spec, self.profile = spec, profile
        self.settings = settings or get_settings()
        self.poll_interval_s = poll_interval_s
        self.submitted = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-workforce", daemon=True)

    def start(self) -> "SimulatedWorkforce":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as err:  # reported by the caller; the flow's own wait times out
            self.error = err
            log.error("simulated workforce stopped: %s", err)

    def _work(self) -> None:
        ls, store = LabelStudioClient(self.settings), S3Store(self.settings)
        raw = RawZone(self.settings.raw_zone_uri, self.spec.request_id)
        tt = get_task_type(self.spec.task.type)
        truth = read_table(self.profile.truth).set_index("item_id").to_dict("index")
        experts: list[SimExpert] = []
        project = items = None
        while not self._stop.is_set():
            if project is None:
                project = ls.find_project(request_id=self.spec.request_id)
            if project is not None and not experts:
                roster = store.get_parquet(uri=raw.roster)
                if roster is not None:
                    experts = assign_behaviours(roster.to_pandas(), self.profile)
            if project is not None and items is None:
                t = store.get_parquet(uri=raw.items)
                items = t.to_pandas().set_index("ref") if t is not None else None
            if project is None or not experts or items is None:
                self._stop.wait(self.poll_interval_s)
                continue
            jobs = []
            for task in ls.iter_tasks(project_id=project.id):
                ref = task.meta.get("ref")
                if ref not in items.index or items.at[ref, "item_id"] not in truth:
                    continue
                item_id = items.at[ref, "item_id"]
                done_by = {a.completed_by for a in task.annotations if not a.was_cancelled}
                need = task.overlap - len(done_by)
                if need <= 0:
                    continue
                free = [e for e in experts if e.ls_user_id not in done_by]
                rng = _rng(self.profile.seed, "assign", task.id, len(done_by))
                for e in rng.sample(free, min(need, len(free))):
                    jobs.append((task.id, item_id, task.data, e))
            if jobs:
                self._submit(ls, tt, truth, jobs)
            else:
                self._stop.wait(self.poll_interval_s)

    def _submit(self, ls: LabelStudioClient, tt, truth: dict, jobs: list) -> None:
        def one(job: tuple[int, str, dict, SimExpert]) -> None:
            task_id, item_id, data, e = job
            rng = _rng(self.profile.seed, "answer", item_id, e.expert_id)
            given = answer(tt, self.spec.task, truth[item_id], data, accuracy=e.accuracy,
                           spammer=e.spammer, style=e.style, rng=rng)
            lead = round(rng.lognormvariate(0, e.lead_sigma) * e.lead_median, 1)
            if self._stop.is_set():
                return
            ls.create_annotation(task_id=task_id, user_id=e.ls_user_id,
                                 result=tt.make_result(self.spec.task, given), lead_time=lead)
            self.submitted += 1

        with ThreadPoolExecutor(self.profile.concurrency) as pool:
            list(pool.map(one, jobs))
