"""Stage 2, source: onboard the roster's experts as Label Studio users, recorded by id.

An expert's Label Studio user carries a login alias and a display handle derived from
their pool id with a secret key; their name and email stay in the pool. The user's id is
recorded in annoflow's state store once, and read back from there ever after.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import logging
from urllib.parse import quote

import pandas as pd
import pyarrow as pa
from pydantic import BaseModel

from annoflow.errors import AnnoflowError
from annoflow.identity import display_handle, login_alias, new_password, seal, unseal
from annoflow.layout import RawZone
from annoflow.records import ROSTER_SCHEMA
from annoflow.settings import Settings, get_settings
from annoflow.spec import RequestSpec
from connectors.label_studio import LabelStudioClient
from annoflow.uris import split_uri
from connectors.state import ExpertRecord, StateStore
from connectors.pool_registry import PoolRegistry
from qc.pipeline import QCResult, expert_quality
from tasks import stage
from tasks.services import CampaignLabelStudio, ObjectStore, Services

if TYPE_CHECKING:
    from tasks.operations import Campaign

log = logging.getLogger("annoflow.source")


def ensure_experts(expert_ids: list[str], *, ls: CampaignLabelStudio, state: StateStore,
                   settings: Settings) -> dict[str, ExpertRecord]:
    """Each expert's Label Studio identity, made once and read back from the state store."""
    known = state.experts(expert_ids)
    key = settings.derived_key("expert-login")
    for e in expert_ids:
        if e not in known:
            user = ls.ensure_expert(login=login_alias(e, key=key), handle=display_handle(e, key=key))
            known[e] = ExpertRecord(expert_id=e, ls_user_id=user.id, login=user.email,
                                    handle=user.username)
            state.save_expert(known[e])
    return known


def write_roster(store: ObjectStore, raw: RawZone, roster: pd.DataFrame) -> None:
    """The raw zone's copy of the roster: no names or emails."""
    store.ensure_bucket(bucket=split_uri(raw.base)[0])
    roster = roster.reindex(columns=[f.name for f in ROSTER_SCHEMA])
    store.put_parquet(uri=raw.roster, table=pa.Table.from_pandas(
        roster, schema=ROSTER_SCHEMA, preserve_index=False))


@stage(name="onboard-experts")
def onboard_experts(spec: RequestSpec, roster: pd.DataFrame,
                    svc: Services | None = None) -> pd.DataFrame:
    """Create (or find) a Label Studio user per roster expert (the roster recorded at
    submission); the raw zone's roster gets their user ids."""
    svc = svc or Services.connect()
    experts = ensure_experts(list(roster["expert_id"]), ls=svc.ls, state=svc.state,
                             settings=svc.settings)
    onboarded = roster.assign(ls_user_id=[experts[e].ls_user_id for e in roster["expert_id"]])
    write_roster(svc.store, svc.raw(spec.request_id), onboarded)
    log.info("onboarded %d experts in Label Studio (logins: `annoflow experts %s`)",
             len(onboarded), spec.request_id)
    return onboarded


@stage(name="pool-feedback")
def record_feedback(camp: "Campaign", qc: QCResult, svc: Services | None = None) -> int:
    """What QC measured of the campaign's experts so far, into their quality history in the
    pool for the campaign's domain (each judgment once, however often it is recorded),
    with how they left the campaign if they did (removed, released, excluded at delivery,
    and why). The next campaign's matching reads it. Returns the experts changed."""
    svc = svc or Services.connect()
    outcomes = {e: (entry.status, entry.reason) for e, entry in camp.entries.items()
                if entry.status != "active"}
    for w, r in qc.excluded_workers.iterrows():
        outcomes.setdefault(str(w), ("excluded", r.exclusion_reason))
    changed = PoolRegistry(svc.state).record_campaign(
        camp.request_id, camp.spec.domain, expert_quality(qc), outcomes)
    if changed:
        log.info("quality history of %d expert(s) in %s updated from %s", changed,
                 camp.spec.domain, camp.request_id)
    return changed


class ExpertLogin(BaseModel):
    """One row of ``annoflow experts``: how a rostered expert signs in."""
    expert_id: str
    login: str
    handle: str
    annotator_url: str
    password: str | None          # shown while it is outstanding (issued, not used yet)
    password_state: str           # "issued, not used yet" | "in use" | "needs a reset"
    role: str = "annotator"       # "annotator" | "reviewer" (L4: the campaign's review project)


def expert_logins(request_id: str, *, reset: str | None = None,
                  settings: Settings | None = None) -> list[ExpertLogin]:
    """The roster's logins. A password is made the first time it is asked for (or on
    ``reset``), set in Label Studio, and kept only encrypted until the expert first signs
    in with it; after that nobody can read it again, only reset it."""
    settings = settings or get_settings()
    state, ls = StateStore(settings.state_url), LabelStudioClient(settings)
    camp = state.campaign(request_id)
    # removed, released and failed ones: no access
    qualifying = state.roster(request_id, status="qualifying")
    reviewing = state.roster(request_id, status="reviewing")
    ids = sorted(state.roster(request_id, status="active") + qualifying + reviewing)
    if camp is None or not ids:
        raise AnnoflowError(f"campaign {request_id!r} has no onboarded experts yet: run it "
                            f"(`annoflow run SPEC`) first")
    if reset is not None and reset not in ids:
        raise AnnoflowError(f"{reset!r} is not on the roster of {request_id} "
                            f"({len(ids)} experts: {', '.join(ids[:5])}…)")
    experts = state.experts(ids)
    last = ls.expert_last_logins(user_ids=[experts[e].ls_user_id for e in ids])
    key = settings.derived_key("expert-password")
    def url(project_id: int | None) -> str:
        return f"{settings.expert_url}/user/login/?next=" + quote(
            f"/projects/{project_id}/data/?labeling=1" if project_id else "/projects/")

    review_project = None
    if reviewing:  # (found by its key: it is made once production is done)
        from tasks.review import KEY_SUFFIX
        found = ls.find_project_by_key(key=camp.project_key + KEY_SUFFIX)
        review_project = found.id if found else None
    rows = []
    for e in ids:
        rec = experts[e]
        # setting a password clears the user's last login in Label Studio: any login
        # since then was made with the password issued last
        used = last.get(rec.ls_user_id) is not None
        password, how = None, "in use"
        if e == reset or rec.password_issued_at is None:
            password = new_password()
            ls.set_expert_password(user_id=rec.ls_user_id, password=password)
            state.set_password(expert_id=e, password_enc=seal(password, key=key))
            how = "issued, not used yet"
        elif rec.password_enc is not None and used:
            state.set_password(expert_id=e, password_enc=None, keep_issued=True)
        elif rec.password_enc is not None:
            password = unseal(rec.password_enc, key=key)
            how = "issued, not used yet" if password else "needs a reset"
        rows.append(ExpertLogin(expert_id=e, login=rec.login, handle=rec.handle,
                                annotator_url=url(camp.qualification_project_id if e in qualifying
                                                  else review_project if e in reviewing
                                                  else camp.ls_project_id),
                                password=password, password_state=how,
                                role="reviewer" if e in reviewing else "annotator"))
    return rows
