"""Simulated experts annotating a campaign in Label Studio, through the same door as people.

Each simulated expert signs in with its own login, takes the tasks Label Studio's queue
serves it, and submits as itself. It recognises an item by what it shows (its inputs) and
answers correctly with its own accuracy (against the hidden truth file of the profile),
taking a log-normal time per judgment; spammers answer at random, fast.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
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
from annoflow.errors import ConnectorError
from connectors.annotator import (AccessRevoked, ExpertSession, LoginFailed, SessionEnded,
                                  TaskTaken)
from connectors.label_studio import LabelStudioClient
from connectors.s3 import S3Store
from connectors.state import StateStore
from annoflow.tasktypes.base import choices_result
from simulation.answers import answer, review
from tasks.review import SHOWN_FIELD, VERDICT_FIELD
from tasks.sourcing import ExpertLogin, expert_logins

log = logging.getLogger("annoflow.simulation")
#: the simulated experts' memory of their passwords (the simulator's own file, never read
#: by annoflow)
KEYRING = Path(__file__).resolve().parent.parent / ".local" / "simulation" / "keyring.json"


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


class GroupBehaviour(BaseModel):
    """Further kinds of expert on the roster, e.g. a random clicker who takes normal time,
    or an expert who vanishes after a few tasks (holding the next one)."""
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int = Field(1, ge=0)
    accuracy: float = Field(0.9, ge=0, le=1)
    random: bool = False                 # answers at random, like a spammer
    lead_time_s: LeadTime = LeadTime(median=75)
    quits_after: int | None = Field(None, ge=0)
    #: planted: these experts (when on the roster) are the group, before any drawn at random
    expert_ids: list[str] = []
    #: position bias (side-by-side types): picks whatever is shown on the left this often,
    #: else answers with ``accuracy``
    left_share: float | None = Field(None, ge=0, le=1)
    #: careless drift: accuracy falls in a straight line from ``accuracy`` to this over
    #: their first ``drift_over`` judgments, and stays there
    drift_to: float | None = Field(None, ge=0, le=1)
    drift_over: int = Field(45, ge=1)
    #: collusion: copies the answer of the first member of this group (told out of band)
    #: on the items that member answered before them, 9 times in 10; at random otherwise
    copies: str | None = None


class ReviewerBehaviour(BaseModel):
    """The campaign's reviewers (L4), when it has any: senior, accurate, unhurried."""
    model_config = ConfigDict(extra="forbid")
    accuracy: tuple[float, float] = (0.92, 0.99)
    lead_time_s: LeadTime = LeadTime(median=90)
    #: on voted work: of the answers they disagree with, the share they send back to be
    #: judged again (reject) rather than correct themselves
    reject_share: float = Field(0.0, ge=0, le=1)


class SimulationProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    seed: int = 0
    truth: str
    #: simulated experts think this much faster than the profile's lead times say
    time_scale: float = Field(0.005, gt=0, le=1)
    experts: ExpertBehaviour = ExpertBehaviour()
    spammers: SpammerBehaviour = SpammerBehaviour()
    groups: list[GroupBehaviour] = []
    reviewers: ReviewerBehaviour = ReviewerBehaviour()


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
    quits_after: int | None = None
    kind: str = "expert"
    left_share: float | None = None
    drift_to: float | None = None
    drift_over: int = 45
    copies: str | None = None           # the expert whose answers they copy

    def accuracy_after(self, done: int) -> float:
        """Their accuracy at their ``done``-th judgment (a careless drift, if any)."""
        if self.drift_to is None:
            return self.accuracy
        return self.accuracy + (self.drift_to - self.accuracy) * min(done / self.drift_over, 1.0)


def _rng(*parts: object) -> random.Random:
    return random.Random(hashlib.sha256("|".join(map(str, parts)).encode()).digest())


def assign_behaviours(roster: pd.DataFrame, profile: SimulationProfile) -> list[SimExpert]:
    """Deterministic per (seed, expert): who is a spammer and how accurate each expert is
    (the annotators; the roster's reviewers, if any, are reviewers)."""
    is_reviewer = roster["role"].eq("reviewer") if "role" in roster.columns else \
        pd.Series(False, index=roster.index)
    reviewers = roster[is_reviewer]
    roster = roster[~is_reviewer]
    ids = sorted(roster["expert_id"])
    spam = set(_rng(profile.seed, "spammers").sample(ids, min(profile.spammers.count, len(ids))))
    groups: dict[str, GroupBehaviour] = {}
    for g in profile.groups:
        planted = [e for e in g.expert_ids if e in ids and e not in spam and e not in groups]
        left = [e for e in ids if e not in spam and e not in groups and e not in planted]
        drawn = max(0, g.count - len(planted))
        for e in planted + _rng(profile.seed, "group", g.name).sample(left, min(drawn, len(left))):
            groups[e] = g
    users = dict(zip(roster["expert_id"], roster["ls_user_id"].astype(int)))
    out = []
    for i, e in enumerate(ids):
        if e in spam:
            b = profile.spammers
            out.append(SimExpert(e, users[e], b.accuracy, b.lead_time_s.median,
                                 b.lead_time_s.sigma, True, i, kind="spammer"))
        elif e in groups:
            g = groups[e]
            first = {h.name: next((x for x in ids if groups.get(x) is h), None)
                     for h in profile.groups}
            out.append(SimExpert(e, users[e], g.accuracy, g.lead_time_s.median,
                                 g.lead_time_s.sigma, g.random, i, g.quits_after, g.name,
                                 g.left_share, g.drift_to, g.drift_over,
                                 first.get(g.copies) if g.copies else None))
        else:
            lo, hi = profile.experts.accuracy
            acc = _rng(profile.seed, "accuracy", e).uniform(lo, hi)
            lt = profile.experts.lead_time_s
            out.append(SimExpert(e, users[e], acc, lt.median, lt.sigma, False, i))
    b = profile.reviewers
    for i, (e, u) in enumerate(sorted(zip(reviewers["expert_id"], reviewers["ls_user_id"].astype(int)))):
        acc = _rng(profile.seed, "reviewer", e).uniform(*b.accuracy)
        out.append(SimExpert(e, int(u), acc, b.lead_time_s.median, b.lead_time_s.sigma, False,
                             len(ids) + i, kind="reviewer"))
    return out


@contextmanager
def _keyring() -> Iterator[dict]:
    """The simulated experts' remembered passwords, read and written under a file lock."""
    KEYRING.parent.mkdir(parents=True, exist_ok=True)
    with open(KEYRING.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ring = json.loads(KEYRING.read_text()) if KEYRING.exists() else {}
        yield ring
        KEYRING.write_text(json.dumps(ring))
        KEYRING.chmod(0o600)


def content_key(data: dict, inputs: tuple[str, ...]) -> str:
    """What a person sees of an item (its inputs), as a key to look its truth up by."""
    return json.dumps({k: str(data.get(k, "")) for k in inputs}, sort_keys=True)


class SimulatedWorkforce:
    """Simulated experts working beside the flow until ``stop()``, each in its own thread
    and its own Label Studio session.

    The simulator stands in for the delivery manager only once: it asks for the roster's
    logins as ``annoflow experts`` does. From then on each simulated expert is a person at
    the login form: it signs in, takes what the queue serves, thinks (the profile's lead
    time, scaled by ``time_scale``: the server measures it) and submits, as itself.
    """

    def __init__(self, spec: RequestSpec, profile: SimulationProfile,
                 settings: Settings | None = None, poll_interval_s: float = 1.0,
                 on_error: Callable[[], None] | None = None) -> None:
        self.spec, self.profile = spec, profile
        self.on_error = on_error
        self.settings = settings or get_settings()
        self.poll_interval_s = poll_interval_s
        self.submitted = 0
        self._done_before: dict[str, int] = {}
        #: (expert, item) -> the answer given, in the item's terms, for colluders to copy
        self._given: dict[tuple[str, str], dict[str, str]] = {}
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-workforce", daemon=True)

    def start(self) -> "SimulatedWorkforce":
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            self._work()
        except BaseException as err:  # reported by the caller, told through on_error
            self.error = err
            log.error("simulated workforce stopped: %s", err)
            if self.on_error is not None:
                self.on_error()

    def _ready(self) -> tuple[list[SimExpert], pd.DataFrame] | None:
        """The experts and the items (a qualification round's too), once the flow has made
        a project for them: its qualification round's, or production's."""
        camp = StateStore(self.settings.state_url).campaign(self.spec.request_id)
        store = S3Store(self.settings)
        raw = RawZone(self.settings.raw_zone_uri, self.spec.request_id)
        roster, items = store.get_parquet(uri=raw.roster), store.get_parquet(uri=raw.items)
        if camp is None or roster is None or items is None:
            return None
        # production reports progress once the project has its tasks and its experts' access
        producing = camp.ls_project_id is not None and store.exists(uri=raw.progress)
        if not producing and camp.qualification_project_id is None:
            return None
        roster = roster.to_pandas()
        roster = roster[roster["ls_user_id"].notna()]  # onboarded (shortlisted later: next burst)
        items = items.to_pandas()
        qualification = store.get_parquet(uri=raw.qualification)
        if qualification is not None:
            items = pd.concat([items, qualification.to_pandas()], ignore_index=True)
        return assign_behaviours(roster, self.profile), items

    def _work(self) -> None:
        ready = None
        while ready is None:
            if self._stop.wait(self.poll_interval_s):
                return
            try:
                ready = self._ready()
                if ready is not None:
                    logins = {r.expert_id: r for r in expert_logins(self.spec.request_id,
                                                                    settings=self.settings)}
            except ConnectorError:
                ready = None  # not onboarded yet
        experts, items = ready
        # what each simulated expert remembers having done in earlier bursts
        from tasks.production import read_synced
        synced = read_synced(S3Store(self.settings), RawZone(self.settings.raw_zone_uri,
                                                             self.spec.request_id))
        self._done_before = synced.groupby("expert_id").size().to_dict() if len(synced) else {}
        experts = [e for e in experts if e.expert_id in logins]  # active ones only
        logins = self._remembered(logins, experts)
        tt = get_task_type(self.spec.task.type)
        truth = read_table(self.profile.truth).set_index("item_id").to_dict("index")
        # what an expert sees identifies the item, in either order it may be shown in
        by_content = {}
        for r in items.to_dict("records"):
            if tt.sides(self.spec.task) is not None:  # (shuffled, or a swap probe)
                by_content[content_key(tt.swap_data(self.spec.task, r), tt.inputs)] = (r["item_id"], True)
            by_content[content_key(r, tt.inputs)] = (r["item_id"], False)
        with ThreadPoolExecutor(len(experts)) as pool:
            futures = [pool.submit(self._expert, e, logins[e.expert_id], tt, truth, by_content)
                       for e in experts]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            self._stop.set()  # one expert failing stops the others: the caller is told
            for f in done:
                f.result()

    def _remembered(self, logins: dict, experts: list[SimExpert]) -> dict:
        """Each simulated expert's password as a person would have it: the one they were
        handed, remembered (a keyring file of the simulator's own, shared by every burst and
        campaign, as one person has one password for all their campaigns)."""
        with _keyring() as ring:
            for e in experts:
                row = logins[e.expert_id]
                if row.password:
                    ring[e.expert_id] = row.password
                logins[e.expert_id] = row.model_copy(update={"password": ring.get(e.expert_id)})
        return logins

    def _sign_in(self, session: ExpertSession, login: ExpertLogin) -> None:
        """Sign in with the remembered password; when it no longer works, ask the delivery
        manager for a new one, as a person would, and remember it. Bursts of other campaigns
        sign the same person in at the same time: a reset happens only when the keyring still
        holds the password that failed (someone else's reset is used, not undone)."""
        expert_id, password = login.expert_id, login.password
        for attempt in range(3):
            try:
                session.login(email=login.login, password=password or "")
                return
            except LoginFailed:
                if attempt == 2:
                    raise
            with _keyring() as ring:
                if ring.get(expert_id) in (None, password):
                    fresh = {r.expert_id: r for r in expert_logins(
                        self.spec.request_id, reset=expert_id, settings=self.settings)}
                    ring[expert_id] = fresh[expert_id].password
                password = ring[expert_id]

    def _campaign_projects(self, session: ExpertSession) -> list[int]:
        """This campaign's projects on the expert's projects page (its title starts with
        the request id), as a person picks them out."""
        prefix = LabelStudioClient.project_title(request_id=self.spec.request_id, title="")
        return sorted(pid for pid, title in session.projects() if title.startswith(prefix))

    def _next(self, session: ExpertSession, projects: list[int]) -> tuple[int, object] | None:
        """The next task of any of ``projects`` (those access was taken from are dropped)."""
        for pid in list(projects):
            try:
                task = session.next_task(project_id=pid)
            except AccessRevoked:
                projects.remove(pid)
                continue
            if task is not None:
                return pid, task
        return None

    def _expert(self, e: SimExpert, login, tt, truth: dict,
                by_content: dict[str, tuple[str, bool]]) -> None:
        """One simulated expert: works in whichever of the campaign's projects they see
        (a qualification round, then production), and stops, as a person would, once the
        projects they worked in are gone from their page (removed, released, failed)."""
        done = int(self._done_before.get(e.expert_id, 0))
        worked = bool(done)
        with ExpertSession(self.settings.expert_url) as session:
            self._sign_in(session, login)
            try:
                projects = self._campaign_projects(session)
            except SessionEnded:
                return
            while not self._stop.is_set():
                if e.quits_after is not None and done >= e.quits_after:
                    self._next(session, projects)  # takes one more and is never seen again
                    log.info("simulated expert %s vanishes after %d tasks", e.expert_id, done)
                    return
                try:
                    found = self._next(session, projects)
                    if found is None:  # nothing here now: a look at the projects page
                        projects = self._campaign_projects(session)
                except SessionEnded:  # signed out elsewhere: back in the next burst
                    return
                if found is None and worked and not projects:
                    log.info("simulated expert %s has no access any more; stops", e.expert_id)
                    return
                if found is None:  # nothing for this expert now; others may still return work
                    self._stop.wait(self.poll_interval_s)
                    continue
                worked = True
                _, task = found
                item_id, swapped = by_content.get(content_key(task.data, tt.inputs), (None, False))
                if item_id is None or item_id not in truth:
                    raise ConnectorError(f"task {task.id} served to {e.expert_id} matches no "
                                         f"item of the simulation's truth file")
                # a draw per item and side shown: the pair the other way round (a swap
                # probe) is a fresh look
                rng = _rng(self.profile.seed, "answer", item_id, e.expert_id,
                           *(["shown swapped"] if swapped else []))
                if SHOWN_FIELD in task.data:  # a review task: what is to be delivered, judged
                    # (its own draw: a second review of the item is a fresh look)
                    rng = _rng(self.profile.seed, "review", item_id, e.expert_id,
                               task.data[SHOWN_FIELD])
                    result = self._review(tt, truth[item_id], task.data, e, rng)
                else:
                    given = self._answer(tt, e, item_id, truth[item_id], task.data, done, rng)
                    if swapped:  # the item's better response is on the other side on screen
                        given = tt.swap_answer(self.spec.task, given)
                    if e.left_share is not None and rng.random() < e.left_share:
                        given = {q.name: left for q in tt.questions(self.spec.task)
                                 for left in [_left_label(tt, self.spec.task)]}  # as shown
                    result = tt.make_result(self.spec.task, given)
                think = rng.lognormvariate(0, e.lead_sigma) * e.lead_median * self.profile.time_scale
                # a person finishes the task at hand before leaving (a burst's end, a stop):
                # only someone who vanishes leaves a task held
                time.sleep(think)
                try:
                    session.submit(task_id=task.id, result=result)
                except TaskTaken as why:  # as a person would: read the message, go on
                    log.info("simulated expert %s: %s", e.expert_id, why)
                    continue
                except (AccessRevoked, SessionEnded):
                    log.info("simulated expert %s lost access or session while submitting; "
                             "stops for now", e.expert_id)
                    return
                done += 1
                with self._lock:
                    self.submitted += 1
                    if SHOWN_FIELD not in task.data:  # (what colluders tell each other)
                        self._given[(e.expert_id, item_id)] = tt.swap_answer(
                            self.spec.task, given) if swapped else given

    def _review(self, tt, truth: dict, data: dict, e: SimExpert, rng: random.Random) -> list[dict]:
        """A reviewer's submission: their verdict on what the task shows is to be delivered
        (the item is shown in its own order) and, when they correct it, their answer."""
        verdict, fixed = review(tt, self.spec.task, truth, str(data[SHOWN_FIELD]), data,
                                accuracy=e.accuracy, style=e.style, rng=rng,
                                reject_share=self.profile.reviewers.reject_share)
        return ([*(tt.make_result(self.spec.task, fixed) if fixed else []),
                 choices_result(VERDICT_FIELD, SHOWN_FIELD, [verdict])])

    def _answer(self, tt, e: SimExpert, item_id: str, truth: dict, data: dict, done: int,
                rng: random.Random) -> dict[str, str]:
        """An annotator's answer in the item's terms: a copier's is their source's when the
        source has answered the item (9 times in 10), else random; a careless expert's
        accuracy is where their drift has got to."""
        if e.copies is not None:
            with self._lock:
                theirs = self._given.get((e.copies, item_id))
            if theirs is not None and rng.random() < 0.9:
                return dict(theirs)
            return answer(tt, self.spec.task, truth, data, accuracy=0.5, spammer=True,
                          style=e.style, rng=rng)
        return answer(tt, self.spec.task, truth, data, accuracy=e.accuracy_after(done),
                      spammer=e.spammer, style=e.style, rng=rng)


def _left_label(tt, task) -> str:
    """The label that picks what is shown on the left (side-by-side types)."""
    sides = tt.sides(task) or {}
    return next(label for label, side in sides.items() if side == "left")
