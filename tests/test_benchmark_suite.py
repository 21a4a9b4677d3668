"""The benchmark suite's one table: every metric has a row, targets are judged, the command runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import suite  # noqa: E402


def figures_meeting_every_target() -> dict[str, dict]:
    """Plausible figures for every benchmark, each within its target."""
    keys = {
        "key_median_ms": 5.0,
        "key_max_ms": 40.0,
        "key_max_after_5s_ms": 20.0,
        "key_over_100ms": 0,
        "key_presses": 50,
    }
    return {
        "startup": {"runs": 7, "first_frame_median_s": 0.5, "vm_list_median_s": 2.4},
        "vms": {
            "instances": 5000,
            "all_in_table_s": 9.0,
            "data_to_table_s": 0.2,
            "peak_rss_mb": 330.0,
            **keys,
        },
        "ticker": {"instances": 5000, "cpu_share_pct": 3.9},
        "storage": {
            "objects": 100_000,
            "big_mb": 500,
            "first_page_max_ms": 13.0,
            "upload_service_mb_s": 157.0,
            "upload_plain_mb_s": 125.0,
            "upload_ratio_pct": 125.0,
            "download_service_mb_s": 200.0,
            "download_plain_mb_s": 210.0,
            "download_ratio_pct": 95.0,
            "small_upload_speedup_20ms": 5.7,
            "small_upload_speedup_0ms": 1.3,
            "small_download_speedup_20ms": 5.0,
            "small_download_speedup_0ms": 1.1,
        },
        "logs": {
            "latency": {"median_s": 0.7, "max_s": 1.5},
            "read": {"poller_lines_read": 990_000, "peak_rss_mb": 160.0},
        },
        "buckets": {
            "objects": 100_000,
            "first_page_s": 0.2,
            "rows_loaded": 9000,
            "rows_in_table_at_end": 100_000,
            "peak_rss_mb": 400.0,
            **keys,
        },
        "jobs": {"jobs": 200, "all_in_table_s": 0.8, "peak_rss_mb": 260.0, **keys},
        "logview": {"lines": 1_000_000, "received": 990_000, "peak_rss_mb": 300.0, **keys},
    }


def test_every_metric_has_a_row_and_all_pass() -> None:
    rows = suite.build_rows(figures_meeting_every_target())
    assert [r["metric"] for r in rows] == [
        suite._label(m.label, figures_meeting_every_target()[m.bench]) for m in suite.METRICS
    ]
    assert len(rows) == len(suite.METRICS)
    assert suite.all_met(rows)
    table = suite.render_table(rows)
    assert "VMs 5,000: peak memory" in table
    assert "Buckets 100,000 objects: enter → first page on screen" in table
    assert "log view 1,000,000: peak memory" in table
    assert "download 500 MiB, service / plain" in table
    assert "FAIL" not in table
    # Header, rule, one line per metric.
    assert len(table.splitlines()) == len(suite.METRICS) + 2


def test_a_missed_target_a_failed_and_a_skipped_benchmark() -> None:
    results: dict[str, dict | None] = dict(figures_meeting_every_target())
    results["vms"] = {**results["vms"], "key_max_ms": 1400.0}  # type: ignore[dict-item]
    results["jobs"] = None  # the script broke
    del results["logview"]  # not run (--only)
    rows = {r["metric"]: r for r in suite.build_rows(results)}
    assert rows["VMs 5,000: key press → cursor moved, slowest"]["ok"] is False
    assert rows["VMs 5,000: key press → cursor moved, slowest"]["value"] == "1,400"
    assert rows["VMs 5,000: peak memory"]["ok"] is True
    assert rows["Jobs N: peak memory"]["value"] == "FAILED"
    assert rows["Jobs N: peak memory"]["ok"] is False
    assert rows["log view N: peak memory"]["value"] == "not run"
    assert rows["log view N: peak memory"]["ok"] is None
    assert not suite.all_met(list(rows.values()))


def test_a_figure_missing_from_a_benchmark_fails_its_row() -> None:
    results = figures_meeting_every_target()
    del results["ticker"]["cpu_share_pct"]
    rows = [r for r in suite.build_rows(results) if r["bench"] == "ticker"]
    assert rows[0]["value"] == "missing" and rows[0]["ok"] is False


def test_higher_is_better_targets() -> None:
    ratio = next(m for m in suite.METRICS if m.path == "download_ratio_pct")
    assert ratio.judge(90.0) is True and ratio.judge(89.9) is False
    assert ratio.target_text() == "≥ 90 %"


def test_unknown_benchmark_name_is_refused() -> None:
    with pytest.raises(SystemExit) as exc:
        suite.main(["--only", "vms,nonsense"])
    assert exc.value.code == 2


def test_the_command_runs_and_writes_the_table(tmp_path: Path) -> None:
    """End to end, on the cheapest benchmark: a real subprocess, its JSON, the table."""
    out = tmp_path / "suite.json"
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "suite.py"),
            "--quick",
            "--only",
            "ticker",
            "--json",
            str(out),
            "--logs",
            str(tmp_path / "logs"),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cloudpane benchmarks (quick: small sizes)")
    assert "cores" in lines[0] and "Python" in lines[0]
    assert "cost ticker, 5,000 running, 1 Hz: CPU" in done.stdout
    assert "not run" in done.stdout  # every other row is still in the table
    saved = json.loads(out.read_text())
    assert len(saved["rows"]) == len(suite.METRICS)
    ticker = next(r for r in saved["rows"] if r["bench"] == "ticker")
    assert ticker["ok"] is True and 0 < ticker["number"] <= 10
    assert saved["machine"]["cores"] >= 1
