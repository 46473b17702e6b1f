"""Stage 2, source: onboard the roster's experts as Label Studio users."""
from __future__ import annotations

import logging

import pandas as pd
import pyarrow as pa

from annoflow.layout import RawZone
from annoflow.records import ROSTER_SCHEMA
from annoflow.settings import get_settings
from annoflow.spec import RequestSpec
from connectors.label_studio import LabelStudioClient
from connectors.s3 import S3Store, split_uri
from tasks import io_task

log = logging.getLogger("annoflow.source")


@io_task(name="onboard-experts")
def onboard_experts(spec: RequestSpec, roster: pd.DataFrame) -> pd.DataFrame:
    """Create (or find) a Label Studio user per roster expert, keyed by pool id."""
    settings = get_settings()
    ls = LabelStudioClient(settings)
    people = []
    for r in roster.itertuples():
        first, _, last = str(r.name).partition(" ")
        people.append({"username": r.expert_id, "email": r.email, "first_name": first,
                       "last_name": last})
    users = ls.ensure_users(people=people)
    onboarded = roster.assign(ls_user_id=[users[e].id for e in roster["expert_id"]])
    # the raw zone keeps the roster without names or emails
    store = S3Store(settings)
    raw = RawZone(settings.raw_zone_uri, spec.request_id)
    store.ensure_bucket(bucket=split_uri(raw.base)[0])
    table = pa.Table.from_pandas(onboarded[[f.name for f in ROSTER_SCHEMA]], schema=ROSTER_SCHEMA,
                                 preserve_index=False)
    store.put_parquet(uri=raw.roster, table=table)
    log.info("onboarded %d experts in Label Studio", len(onboarded))
    return onboarded
