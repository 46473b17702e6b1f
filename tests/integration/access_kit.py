"""A small campaign made directly through annoflow's manager API, for the tests of what
an expert can and cannot do in Label Studio (and the load benchmark).

Work and gold tasks are made alike (same data shape, same meta keys); only the
extension's probe list tells them apart, as in a real campaign.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from connectors.annotator import ExpertSession
from connectors.label_studio import LabelStudioClient

LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="label" toName="text" choice="single" showInline="true">
    <Choice value="yes"/><Choice value="no"/>
  </Choices>
</View>"""


def answer(choice: str = "yes") -> list[dict]:
    return [{"from_name": "label", "to_name": "text", "type": "choices",
             "value": {"choices": [choice]}}]


@dataclass(frozen=True)
class Expert:
    user_id: int
    login: str
    password: str

    def session(self, base_url: str) -> ExpertSession:
        return ExpertSession(base_url).login(email=self.login, password=self.password)


@dataclass(frozen=True)
class Campaign:
    project_id: int
    work: tuple[int, ...]
    gold: tuple[int, ...]
    experts: tuple[Expert, ...]
    overlap: int
    gold_rate: float


def make_expert(ls: LabelStudioClient, tag: str) -> Expert:
    login = f"t{uuid.uuid4().hex[:12]}@experts.annoflow.invalid"
    user = ls.ensure_expert(login=login, handle=f"{tag}-{uuid.uuid4().hex[:6]}")
    password = secrets.token_urlsafe(18)
    ls.set_expert_password(user_id=user.id, password=password)
    return Expert(user.id, login, password)


def make_campaign(ls: LabelStudioClient, *, n_work: int = 12, n_gold: int = 4,
                  n_experts: int = 2, overlap: int = 2, gold_rate: float = 0.25,
                  tag: str = "access") -> Campaign:
    key = uuid.uuid4().hex
    project = ls.create_project(key=key, request_id=f"{tag}-{key[:8]}", title="access test",
                                label_config=LABEL_CONFIG, overlap=overlap,
                                description=f"{tag} test campaign")
    rows = [{"data": {"text": f"statement {i:04d} of {key[:6]}"},
             "meta": {"ref": secrets.token_hex(8)}} for i in range(n_work + n_gold)]
    ls.import_tasks(project_id=project.id, tasks=rows)
    ids = sorted(t.id for t in ls.iter_tasks(project_id=project.id, with_annotations=False))
    # gold sits among the work, not at the end: which is which is the server's secret
    picks = sorted(secrets.SystemRandom().sample(ids, n_gold))
    work = [t for t in ids if t not in picks]
    experts = [make_expert(ls, tag) for _ in range(n_experts)]
    ls.set_access(project_id=project.id, members=[e.user_id for e in experts], probes=picks,
                  gold_rate=gold_rate)
    return Campaign(project.id, tuple(work), tuple(picks), tuple(experts), overlap, gold_rate)
