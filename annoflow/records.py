"""Arrow schemas of the records annoflow stores and delivers, written down once."""
from __future__ import annotations

import pyarrow as pa

#: the column of a source or gold table that holds each row's number in its file (1-based,
#: what an error message names)
ROW = "_row"

#: One row per Label Studio annotation as synced into the raw zone.
RAW_ANNOTATION_SCHEMA = pa.schema([
    ("annotation_id", pa.int64()),
    ("ls_task_id", pa.int64()),
    ("item_id", pa.string()),
    ("is_gold", pa.bool_()),
    ("expert_id", pa.string()),
    ("answer_json", pa.string()),   # {field: value} parsed by the task type; null if empty
    ("lead_time_s", pa.float64()),
    ("was_cancelled", pa.bool_()),
    ("created_at", pa.timestamp("us", tz="UTC")),
    ("updated_at", pa.timestamp("us", tz="UTC")),
    ("result_json", pa.string()),
    ("quarantine", pa.string()),    # why the result could not be read (then no answer); null if fine
    ("withdrawn", pa.string()),     # gone from Label Studio after it was synced (deleted, or
                                    # reassigned outside the roster): a later version of the row
                                    # says so; the earlier ones stay in their snapshots
    ("twin", pa.bool_()),           # an answer to the item's swap probe (shown the other way
                                    # round; answer_json in the item's terms): it measures
                                    # self-consistency and is no judgment (null before probes)
])

#: The delivered judgments table (annotations.parquet): pseudonymous annotator ids,
#: lead time and QC flags kept on every judgment.
DELIVERED_ANNOTATION_SCHEMA = pa.schema([
    ("item_id", pa.string()),
    ("annotator", pa.string()),
    ("field", pa.string()),         # the judged question ("" when the type has one)
    ("label", pa.string()),         # the answer (the text, for free-text types)
    ("lead_time_s", pa.float64()),
    ("is_gold", pa.bool_()),
    ("excluded", pa.bool_()),
    ("exclusion_reason", pa.string()),
    ("text_flag", pa.string()),     # free-text types: why the automatic checks rejected it
    ("created_at", pa.timestamp("us", tz="UTC")),
])

#: The roster written to the raw zone: no names or emails.
ROSTER_SCHEMA = pa.schema([
    ("expert_id", pa.string()),
    ("ls_user_id", pa.int64()),
    ("rank", pa.int32()),
    ("score", pa.float64()),
    ("vetting_score", pa.float64()),
    ("hourly_rate_usd", pa.float64()),
    ("weekly_hours", pa.float64()),
    ("role", pa.string()),             # annotator (or null: rosters before review) | reviewer
])
