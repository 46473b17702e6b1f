"""The delivered QC report: self-contained HTML with charts, pseudonyms only."""
from __future__ import annotations

import pandas as pd

from qc.report import qc_report_html
from qc.pipeline import QCConfig, run_layers


def test_report_shows_charts_and_hides_expert_ids() -> None:
    rows = []
    for i in range(12):
        y = "ab"[i % 2]
        for w in ("ex-1", "ex-2", "ex-3"):
            rows.append((f"t{i}", w, y, 60.0))
        rows.append((f"t{i}", "ex-spam", "a", 2.0))
    data = pd.DataFrame(rows, columns=["task", "worker", "label", "lead_time_s"])
    gold = pd.DataFrame({"task": [f"t{i}" for i in range(6)], "label": ["a", "b"] * 3})
    res = run_layers(data, gold, QCConfig(min_gold_accuracy=0.7))
    names = {w: f"ann-{n}" for n, w in enumerate(sorted(res.workers.index))}
    html = qc_report_html(title="T <x>", request_id="r-1", result=res, stats=res.stats(),
                          names=names, min_gold_accuracy=0.7)
    assert html.startswith("<!doctype html>") and "<script" not in html
    assert html.count("<svg") == 3
    assert "T &lt;x&gt;" in html  # escaped
    assert "ex-" not in html and "ann-3" in html
    assert "Excluded annotators" in html and "minimum 70%" in html
