"""Buckets, Jobs and the log view at scale: key-press latency while data loads, peak memory.

    .venv/bin/python benchmarks/panes_scale.py buckets [--objects 100000] [--json OUT]
    .venv/bin/python benchmarks/panes_scale.py jobs [--jobs 200] [--json OUT]
    .venv/bin/python benchmarks/panes_scale.py logview [--lines 1000000] [--json OUT]

Each runs the real app headless (Textual's test driver) against a fresh sandbox daemon, in its
own process, so the peak memory is the scenario's own.

buckets  A bucket of N objects (one flat folder, seeded by the sandbox's hook). Open it
         (`enter`): time to the first page on screen. Then keys while pages load: `ctrl+end` and
         `k` alternately (every `ctrl+end` brings the cursor near the end, which fetches the next
         page), each timed until the cursor moved. Then every remaining page is loaded, so
         the peak memory is that of a table as full as the pane keeps it (MAX_OBJECT_ROWS).
jobs     N custom jobs: N-3 finished ones written into the sandbox's state before it starts,
         plus 3 running ones submitted through the API (a job that prints a line every
         0.5 s), so the 2-second refresh has live rows to update. `j`/`k` timed until the
         cursor moved, while the list refreshes.
logview  One job with N log lines in the sandbox's Logging store. The Jobs pane opens its
         logs from the start (`l`). The log read quota (60 requests a minute on Google) is
         lifted for the benchmark so the view receives all N lines in minutes; `f` (follow
         on/off) is timed meanwhile; memory is sampled until every line arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _measure import (  # noqa: E402
    key_latencies,
    latency_summary,
    peak_rss_mb,
    print_latency,
    rss_mb,
    send_key,
    write_json,
)

from tui.app import CloudpaneApp  # noqa: E402
from tui.config import Config  # noqa: E402
from tui.sandbox import daemon  # noqa: E402
from tui.sandbox.context import SANDBOX_PROJECT  # noqa: E402
from tui.services.clients import Backend, sandbox_backend  # noqa: E402
from tui.services.connect import Connection  # noqa: E402

REGION = "us-central1"
SIZE = (120, 40)


async def wait_for(check: Callable[[], object], timeout: float, what: str) -> float:
    """Seconds until check() is true (polled every 10 ms); an error after `timeout`."""
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.01)
    return time.perf_counter() - start


def make_app(backend: Backend, data_dir: Path) -> CloudpaneApp:
    return CloudpaneApp(Config(refresh_seconds=2), connection=Connection(backend, "", data_dir))


# --- buckets -----------------------------------------------------------------------------------


async def buckets(info: daemon.SandboxInfo, data_dir: Path, args: argparse.Namespace) -> dict:
    from textual.widgets import DataTable

    from tui.panes.buckets import BucketsPane

    began = time.perf_counter()
    daemon.admin(info, "seed", {"objects": args.objects, "bucket": "bench-big"})
    print(f"seeded {args.objects:,} objects in {time.perf_counter() - began:.1f} s", flush=True)
    app = make_app(sandbox_backend(info.url, info.project, data_dir=info.data_dir), data_dir)
    async with app.run_test(size=SIZE):
        pane = app.query_one(BucketsPane)
        send_key(app, "2")  # the Buckets tab
        await wait_for(lambda: "bench-big" in pane.buckets, 60, "the bucket list")
        buckets_table = app.query_one("#buckets-table", DataTable)
        await wait_for(lambda: buckets_table.row_count > 0, 10, "the bucket row")
        objects = app.query_one("#objects-table", DataTable)
        start = time.perf_counter()
        send_key(app, "enter")
        await wait_for(lambda: pane.objects_loaded and objects.row_count > 0, 60, "first page")
        first_page = time.perf_counter() - start

        def next_key(_: int) -> str:  # `ctrl+end` fetches the next page; `k` steps back
            return "k" if objects.cursor_row == objects.row_count - 1 else "ctrl+end"

        latencies = await key_latencies(
            app, next_key, lambda: objects.cursor_row, seconds=args.seconds
        )
        rows_while_keys = objects.row_count
        # Then the rest, as a person holding `end` would: as many rows as the pane keeps.
        start = time.perf_counter()
        while (
            pane.next_token is not None
            and not pane.capped  # the pane keeps at most MAX_OBJECT_ROWS rows
            and time.perf_counter() - start < args.max_seconds
        ):
            if not pane.loading:
                pane.loading = True
                pane.load_objects("more")
            await asyncio.sleep(0.005)
        await wait_for(lambda: not pane.loading, 60, "the last page")
        all_rows_s = time.perf_counter() - start
        rows = objects.row_count
        rss_now = rss_mb()
    keys = latency_summary(latencies)
    figures = {
        "objects": args.objects,
        "first_page_s": first_page,
        "rows_loaded": rows_while_keys,
        "rows_in_table_at_end": rows,
        "load_rest_s": all_rows_s,
        "rss_at_end_mb": rss_now,
        "peak_rss_mb": peak_rss_mb(),
        **{f"key_{k}": v for k, v in keys.items()},
    }
    print(f"{'enter → first page on screen (s)':<58}{first_page:>12.2f}")
    print_latency("key press (ctrl+end/k) → cursor moved", keys)
    print(f"{'rows loaded while pressing keys':<58}{rows_while_keys:>12,}")
    print(f"{'all remaining pages loaded in (s)':<58}{all_rows_s:>12.1f}")
    print(f"{'rows in the table at the end':<58}{rows:>12,}")
    print(f"{'peak memory of the app process (MB)':<58}{figures['peak_rss_mb']:>12.0f}")
    return figures


# --- jobs --------------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed_jobs(data_dir: Path, count: int, job_ids: list[str] | None = None) -> list[str]:
    """Finished custom jobs written into the sandbox's state (before the daemon starts), in
    the shape the sandbox stores for a job submitted through the API."""
    from tui.sandbox import vertex
    from tui.sandbox.store import Store

    store = Store(data_dir / "state.sqlite3")
    now = datetime.now(timezone.utc)
    states = ["JOB_STATE_SUCCEEDED"] * 6 + ["JOB_STATE_FAILED", "JOB_STATE_CANCELLED"]
    ids = job_ids or [str(3 * 10**18 + i) for i in range(count)]
    items = []
    for i, job_id in enumerate(ids):
        body = {
            "displayName": f"depth-unet-{i:04d}",
            "jobSpec": {
                "workerPoolSpecs": [
                    {
                        "machineSpec": {
                            "machineType": "n1-standard-8",
                            "acceleratorType": "NVIDIA_TESLA_T4",
                            "acceleratorCount": 1,
                        },
                        "replicaCount": "1",
                        "pythonPackageSpec": {
                            "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest",
                            "packageUris": ["gs://staging/trainer-0.1.tar.gz"],
                            "pythonModule": "trainer.task",
                            "args": ["--epochs", "20", f"--learning-rate={0.001 * (i % 7 + 1)}"],
                        },
                    }
                ]
            },
        }
        created = now - timedelta(hours=count - i)
        state = states[i % len(states)]
        doc: dict[str, Any] = {
            "name": f"projects/{SANDBOX_PROJECT}/locations/{REGION}/customJobs/{job_id}",
            **vertex.normalise_job(body),
            "state": state,
            "createTime": _stamp(created),
            "startTime": _stamp(created + timedelta(minutes=1)),
            "endTime": _stamp(created + timedelta(minutes=40)),
            "updateTime": _stamp(created + timedelta(minutes=40)),
        }
        if state == "JOB_STATE_FAILED":
            doc["error"] = {"code": 13, "message": "The replica workerpool0-0 exited with 1."}
        items.append((vertex._key(SANDBOX_PROJECT, REGION, job_id), doc))
    store.put_many(vertex.KIND, items)
    store.close()
    return ids


async def submit_live_jobs(backend: Backend, count: int) -> None:
    """Running jobs through the real API: a package that prints a line every 0.5 s."""
    from log_latency import ticker_sdist, upload

    from tui.services.job_models import JobSpec, WorkerPool
    from tui.services.jobs import JobsService

    package = await asyncio.to_thread(upload, backend, ticker_sdist())
    service = JobsService(backend)
    for i in range(count):
        pool = WorkerPool(package_uris=(package,), args=("100000",))
        await service.submit(JobSpec(f"live-{i}", (pool,)))


async def jobs(info: daemon.SandboxInfo, data_dir: Path, args: argparse.Namespace) -> dict:
    from textual.widgets import DataTable

    from tui.panes.jobs import JobsPane

    backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
    live = min(3, args.jobs)
    await submit_live_jobs(backend, live)
    app = make_app(backend, data_dir)
    applies: list[float] = []
    async with app.run_test(size=SIZE):
        pane = app.query_one(JobsPane)
        original_apply = pane.apply

        def timed_apply(*a):  # type: ignore[no-untyped-def]
            start = time.perf_counter()
            original_apply(*a)
            applies.append(time.perf_counter() - start)

        pane.apply = timed_apply  # type: ignore[method-assign]
        started = time.perf_counter()
        send_key(app, "3")  # the Jobs tab
        await wait_for(lambda: len(pane.jobs) >= args.jobs, 120, f"{args.jobs} jobs")
        all_in = time.perf_counter() - started
        table = app.query_one("#jobs-table", DataTable)
        table.focus()

        def next_key(n: int) -> str:  # down the list and back up
            return "j" if (n // (table.row_count - 1)) % 2 == 0 else "k"

        latencies = await key_latencies(app, next_key, lambda: table.cursor_row, args.seconds)
        refreshes = len(applies)
    keys = latency_summary(latencies)
    later = sorted(applies[1:]) or [0.0]
    figures = {
        "jobs": args.jobs,
        "live_jobs": live,
        "all_in_table_s": all_in,
        "refreshes_during_keys": refreshes,
        "refresh_ui_median_ms": later[len(later) // 2] * 1000,
        "refresh_ui_max_ms": later[-1] * 1000,
        "peak_rss_mb": peak_rss_mb(),
        **{f"key_{k}": v for k, v in keys.items()},
    }
    print(f"{'jobs (running)':<58}{f'{args.jobs} ({live})':>12}")
    print(f"{'tab opened → all jobs in the table (s)':<58}{all_in:>12.2f}")
    print(f"{'refresh on the UI thread, median (ms)':<58}{figures['refresh_ui_median_ms']:>12.1f}")
    print(f"{'refresh on the UI thread, max (ms)':<58}{figures['refresh_ui_max_ms']:>12.1f}")
    print_latency("key press (j/k) → cursor moved", keys)
    print(f"{'peak memory of the app process (MB)':<58}{figures['peak_rss_mb']:>12.0f}")
    return figures


# --- the log view ------------------------------------------------------------------------------


async def logview(info: daemon.SandboxInfo, data_dir: Path, args: argparse.Namespace) -> dict:
    from textual.widgets import DataTable

    from tui.panes.job_logs import LogScreen
    from tui.panes.jobs import JobsPane

    job_id = args.job_id
    app = make_app(sandbox_backend(info.url, info.project, data_dir=info.data_dir), data_dir)
    samples: list[tuple[int, float]] = []
    async with app.run_test(size=SIZE):
        pane = app.query_one(JobsPane)
        send_key(app, "3")
        await wait_for(lambda: job_id in pane.jobs, 120, "the job")
        table = app.query_one("#jobs-table", DataTable)
        await wait_for(lambda: table.row_count > 0, 10, "the job row")
        table.focus()
        start = time.perf_counter()
        send_key(app, "l")
        await wait_for(lambda: isinstance(app.screen, LogScreen), 10, "the log view")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        # The benchmark lifts the read quota so a million lines arrive in minutes.
        screen.hub.poller.min_interval = 0.0
        await wait_for(lambda: screen.received > 0, 60, "the first lines")
        first_lines = time.perf_counter() - start
        latencies = await key_latencies(app, "f", lambda: screen.follow, args.seconds)
        expected = args.expected
        last = -1
        deadline = time.perf_counter() + args.max_seconds
        while screen.received < expected and time.perf_counter() < deadline:
            if screen.received // 100_000 != last:
                last = screen.received // 100_000
                samples.append((screen.received, rss_mb()))
            await asyncio.sleep(0.05)
        samples.append((screen.received, rss_mb()))
        streamed = time.perf_counter() - start
        received, kept = screen.received, len(screen.rows)
    keys = latency_summary(latencies)
    figures = {
        "lines": args.lines,
        "job_lines": expected,
        "received": received,
        "kept_in_view": kept,
        "open_to_first_lines_s": first_lines,
        "stream_s": streamed,
        "lines_per_s": received / streamed,
        "rss_samples_mb": {str(n): round(mb, 1) for n, mb in samples},
        "peak_rss_mb": peak_rss_mb(),
        **{f"key_{k}": v for k, v in keys.items()},
    }
    print(f"{'lines of the job (stored)':<58}{expected:>12,}")
    print(f"{'l → first lines in the view (s)':<58}{first_lines:>12.2f}")
    print(f"{'lines received by the view':<58}{received:>12,}")
    print(f"{'lines kept by the view':<58}{kept:>12,}")
    print(f"{'lines per second through the view':<58}{figures['lines_per_s']:>12,.0f}")
    print_latency("key press (f) → follow toggled", keys)
    trace = " ".join(f"{n // 1000}k:{mb:.0f}" for n, mb in samples)
    print(f"{'memory as lines arrived (lines:MB)':<58}{trace}")
    print(f"{'peak memory of the app process (MB)':<58}{figures['peak_rss_mb']:>12.0f}")
    return figures


def prepare_logview(data_dir: Path, lines: int) -> tuple[str, int]:
    """N log lines (99 % of them for one job) in the sandbox's store, and that job's doc."""
    from log_latency import insert_million

    began = time.perf_counter()
    job_id, _, _ = insert_million(data_dir, lines)
    seed_jobs(data_dir, 1, [job_id])
    expected = sum(1 for i in range(lines) if i % 100)  # insert_million's share for the job
    print(f"inserted {lines:,} log lines in {time.perf_counter() - began:.1f} s", flush=True)
    return job_id, expected


# --- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("scenario", choices=["buckets", "jobs", "logview"])
    parser.add_argument("--objects", type=int, default=100_000, help="buckets: objects")
    parser.add_argument("--jobs", type=int, default=200, help="jobs: custom jobs")
    parser.add_argument("--lines", type=int, default=1_000_000, help="logview: log lines")
    parser.add_argument("--seconds", type=float, default=20.0, help="key presses for this long")
    parser.add_argument(
        "--max-seconds", type=float, default=400.0, help="give up loading the rest after this"
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloudpane-bench-") as tmp:
        data_dir = Path(tmp) / "sandbox"
        os.environ["CLOUDPANE_CONFIG_DIR"] = str(Path(tmp) / "config")
        if args.scenario == "jobs":
            seed_jobs(data_dir, args.jobs - min(3, args.jobs))
        if args.scenario == "logview":
            args.job_id, args.expected = prepare_logview(data_dir, args.lines)
        info = daemon.start(data_dir)
        try:
            scenario = {"buckets": buckets, "jobs": jobs, "logview": logview}[args.scenario]
            figures = asyncio.run(scenario(info, data_dir, args))
        finally:
            daemon.stop(data_dir)
    write_json(args.json, figures)
    if args.json is None:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
