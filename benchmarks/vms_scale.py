"""VMs pane at scale: 5,000 seeded instances in 20 zones.

Prints: the list call's time, data arriving → table on screen, the UI thread's work per
refresh and per ticker second, key-press latency while refreshes run, and peak memory.

    .venv/bin/python benchmarks/vms_scale.py [--instances 5000] [--seconds 25] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _measure import (  # noqa: E402
    key_latencies,
    latency_summary,
    peak_rss_mb,
    print_latency,
    write_json,
)
from textual.widgets import DataTable  # noqa: E402

from tui.app import CloudpaneApp  # noqa: E402
from tui.config import Config  # noqa: E402
from tui.panes.vms import VmsPane  # noqa: E402
from tui.sandbox import daemon  # noqa: E402
from tui.services.clients import sandbox_backend  # noqa: E402
from tui.services.connect import Connection  # noqa: E402


async def run(instances: int, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "sandbox"
        os.environ["CLOUDPANE_CONFIG_DIR"] = str(Path(tmp) / "config")
        info = daemon.start(data_dir)
        try:
            daemon.admin(info, "seed", {"instances": instances, "zones": 20})
            backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
            app = CloudpaneApp(
                Config(refresh_seconds=2), connection=Connection(backend, "", data_dir)
            )
            timings: dict[str, list[float]] = {"apply": [], "tick": []}
            async with app.run_test(size=(120, 40)) as pilot:
                pane = app.query_one(VmsPane)
                original_apply = pane.apply

                def timed_apply(*args):  # type: ignore[no-untyped-def]
                    start = time.perf_counter()
                    original_apply(*args)
                    timings["apply"].append(time.perf_counter() - start)

                pane.apply = timed_apply  # type: ignore[method-assign]
                started = time.perf_counter()
                while len(pane.instances) < instances:
                    await pilot.pause(0.05)
                first_data = time.perf_counter() - started
                for _ in range(5):  # one ticker second: figures for all, repaint what is visible
                    start = time.perf_counter()
                    pane.tick()
                    timings["tick"].append(time.perf_counter() - start)
                # Key presses while refreshes keep running: time from press to cursor moved.
                table = app.query_one("#vms-table", DataTable)
                latencies = await key_latencies(app, "j", lambda: table.cursor_row, seconds=seconds)
            peak_mb = peak_rss_mb()
        finally:
            daemon.stop(data_dir)
    later = timings["apply"][1:] or [0.0]
    keys = latency_summary(latencies)
    figures = {
        "instances": instances,
        "all_in_table_s": first_data,
        "data_to_table_s": timings["apply"][0],
        "refresh_ui_median_ms": statistics.median(later) * 1000,
        "tick_ui_median_ms": statistics.median(timings["tick"]) * 1000,
        **{f"key_{k}": v for k, v in keys.items()},
        "peak_rss_mb": peak_mb,
    }
    print(f"{'metric':<58}{'value':>12}")
    print(f"{'instances':<58}{instances:>12}")
    print(f"{'app start → all instances in the table (s)':<58}{first_data:>12.2f}")
    print(f"{'data arrived → table updated, first (s)':<58}{timings['apply'][0]:>12.2f}")
    print(f"{'refresh on the UI thread, median (ms)':<58}{figures['refresh_ui_median_ms']:>12.0f}")
    print(
        f"{'ticker second on the UI thread, median (ms)':<58}{figures['tick_ui_median_ms']:>12.1f}"
    )
    print_latency("key press → cursor moved", keys)
    print(f"{'peak memory of the app process (MB)':<58}{peak_mb:>12.0f}")
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=25.0, help="key presses for this long")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    write_json(args.json, asyncio.run(run(args.instances, args.seconds)))
