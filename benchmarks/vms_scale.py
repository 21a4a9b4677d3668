"""VMs pane at scale: 5,000 seeded instances in 20 zones.

Prints: the list call's time, data arriving → table on screen, the UI thread's work per
refresh and per ticker second, key-press latency while refreshes run, and peak memory.

    .venv/bin/python benchmarks/vms_scale.py [--instances 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tui.app import CloudpaneApp  # noqa: E402
from tui.config import Config  # noqa: E402
from tui.panes.vms import VmsPane  # noqa: E402
from tui.sandbox import daemon  # noqa: E402
from tui.services.clients import sandbox_backend  # noqa: E402
from tui.services.connect import Connection  # noqa: E402


async def run(instances: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "sandbox"
        os.environ["CLOUDPANE_CONFIG_DIR"] = str(Path(tmp) / "config")
        info = daemon.start(data_dir)
        try:
            daemon.admin(info, "seed", {"instances": instances, "zones": 20})
            backend = sandbox_backend(info.url, info.project)
            app = CloudpaneApp(
                Config(refresh_seconds=2), connection=Connection(backend, "", data_dir)
            )
            timings: dict[str, list[float]] = {"apply": [], "tick": [], "list": []}
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
                table = app.query_one("#vms-table")
                latencies = []
                loop_start = time.perf_counter()
                deadline = loop_start + 25
                while time.perf_counter() < deadline:
                    before = table.cursor_row
                    start = time.perf_counter()
                    await pilot.press("j")
                    while table.cursor_row == before:
                        await asyncio.sleep(0.001)
                    latencies.append((start - loop_start, time.perf_counter() - start))
                    await asyncio.sleep(0.2)
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        finally:
            daemon.stop(data_dir)
    print(f"{'metric':<52}{'value':>12}")
    print(f"{'instances':<52}{instances:>12}")
    print(f"{'app start → all instances in the table (s)':<52}{first_data:>12.2f}")
    print(f"{'data arrived → table updated, first (s)':<52}{timings['apply'][0]:>12.2f}")
    later = timings["apply"][1:] or [0.0]
    print(f"{'refresh on the UI thread, median (ms)':<52}{statistics.median(later) * 1000:>12.0f}")
    print(
        f"{'ticker second on the UI thread, median (ms)':<52}"
        f"{statistics.median(timings['tick']) * 1000:>12.1f}"
    )
    every = [lat for _, lat in latencies]
    steady = [lat for at, lat in latencies if at > 5] or [0.0]
    over = sum(1 for lat in every if lat > 0.1)
    print(f"{'key press → cursor moved, median (ms)':<52}{statistics.median(every) * 1000:>12.0f}")
    print(
        f"{'key press → cursor moved, max in first 5 s (ms)':<52}"
        f"{max(lat for at, lat in latencies if at <= 5) * 1000:>12.0f}"
    )
    print(f"{'key press → cursor moved, max after 5 s (ms)':<52}{max(steady) * 1000:>12.0f}")
    print(f"{'key presses slower than 100 ms':<52}{f'{over}/{len(every)}':>12}")
    print(f"{'peak memory of the app process (MiB)':<52}{peak_mb:>12.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(run(args.instances))
