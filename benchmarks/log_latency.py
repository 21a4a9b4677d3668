"""Job log figures: print-to-poller latency, and a million log lines stored and read.

    .venv/bin/python benchmarks/log_latency.py [--seconds 30] [--lines 1000000] [--read-lines N]
        [--json OUT]

1. Latency: a sandbox job prints a line with its wall-clock time every 0.5 s; the shared
   LogPoller (default settings: 20 reads a minute, one every 3 s; run loop) follows the job
   through google-cloud-logging; for each line, the time from print to the poller handing it
   over. Lines are handed over as soon as they are read (the 5 s lag window only re-reads, to
   catch late entries), so the slowest line waits about one tick. Target: ≤ 3.5 s.
2. Volume: 1,000,000 entries of one job (plus 9 small jobs) inserted into the sandbox's log
   table; then, through the real HTTP API and client: the newest page, a page after a cursor
   deep in the job, and the poller reading the whole job from the start in 1000-entry pages,
   with the process's memory measured as it goes (the ring buffer keeps it bounded).

Each part starts its own sandbox daemon in a temporary folder.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import peak_rss_mb, write_json

from tui.sandbox import daemon
from tui.sandbox.logging_api import LogStore
from tui.services.clients import Backend, sandbox_backend
from tui.services.job_models import JobSpec, LogEntry, WorkerPool
from tui.services.jobs import JobsService
from tui.services.logs import LogPoller, LogsService

TICKER = b"""
import sys, time
n = int(sys.argv[1])
for i in range(n):
    print("tick %d %.6f" % (i, time.time()), flush=True)
    time.sleep(0.5)
"""


def ticker_sdist() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in [
            ("ticker-1/trainer/__init__.py", b""),
            ("ticker-1/trainer/task.py", TICKER),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(backend: Backend, data: bytes) -> str:
    from google.cloud import storage  # type: ignore[attr-defined]

    client = storage.Client(
        project=backend.project,
        credentials=backend.credentials,
        client_options={"api_endpoint": backend.endpoint},
    )
    client.create_bucket("bench")
    client.bucket("bench").blob("ticker.tar.gz").upload_from_string(data)
    return "gs://bench/ticker.tar.gz"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def latency(backend: Backend, seconds: float) -> dict[str, float]:
    package = upload(backend, ticker_sdist())
    ticks = int(seconds / 0.5)
    job = await JobsService(backend).submit(
        JobSpec("ticker", (WorkerPool(package_uris=(package,), args=(str(ticks),)),))
    )
    poller = LogPoller(backend)  # the defaults the Jobs pane uses
    delays: list[float] = []
    pipeline: list[float] = []
    finished = asyncio.Event()

    def on_entries(new: dict[str, list[LogEntry]]) -> None:
        now = time.time()
        for entry in new.get(job.id, []):
            if entry.text.startswith("tick "):
                printed = float(entry.text.split()[2])
                delays.append(now - printed)
                pipeline.append(entry.timestamp.timestamp() - printed)
            if entry.text == "Job completed successfully.":
                finished.set()

    poller.follow(job.id, from_start=True)
    began = time.monotonic()
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(on_entries, stop=stop))
    await asyncio.wait_for(finished.wait(), seconds + 60)
    stop.set()
    await task
    minutes = (time.monotonic() - began) / 60
    return {
        "lines": len(delays),
        "median_s": statistics.median(delays),
        "p95_s": pct(delays, 0.95),
        "max_s": max(delays),
        "print_to_stored_median_s": statistics.median(pipeline),
        "requests_per_minute": poller.requests / minutes,
    }


def insert_million(data_dir: Path, lines: int) -> tuple[str, float, int]:
    """Rows straight into the log table (as the runner's appends end up), timed."""
    store = LogStore(data_dir / "logs.sqlite3")
    project = daemon_project()
    labels = {"project_id": project, "task_name": "workerpool0-0"}
    start_ns = (time.time_ns() - lines * 1_000_000) // 1000 * 1000
    big = "1000000000000000001"
    began = time.perf_counter()
    for i in range(lines):
        job = big if i % 100 else f"20000000000000000{i % 9:02d}"
        store.append(
            project=project,
            log_id="workerpool0-0",
            resource_type="ml_job",
            resource_labels={**labels, "job_id": job},
            severity=200,
            text=f"epoch={i % 50}/50 step {i} loss={1 / (1 + i % 977):.6f} some more words of a log line",
            timestamp_ns=start_ns + i * 1000,
        )
    store.flush()
    elapsed = time.perf_counter() - began
    store.close()
    return big, elapsed, start_ns + lines // 2 * 1000


def daemon_project() -> str:
    from tui.sandbox.context import SANDBOX_PROJECT

    return SANDBOX_PROJECT


async def volume(
    backend: Backend, job_id: str, read_lines: int, middle_ns: int
) -> dict[str, float]:
    logs = LogsService(backend)
    await logs.tail(job_id, 1)  # warm up: the client library's import and connection
    began = time.perf_counter()
    newest = await logs.tail(job_id, 1000)
    tail_s = time.perf_counter() - began
    assert len(newest) == 1000
    middle = datetime.fromtimestamp(middle_ns / 1e9, tz=timezone.utc)  # deep in the job
    began = time.perf_counter()
    page = await logs.read(job_id, since=middle, page_size=1000)
    cursor_s = time.perf_counter() - began
    assert page.entries

    poller = LogPoller(backend, buffer_lines=5000)
    # Lift the read budget: this measures the sandbox and the client, not the quota (on Google
    # a million lines take 50 minutes at the default 20 requests a minute).
    poller.min_interval = 0.0
    poller.follow(job_id, from_start=True)
    proc = psutil.Process()
    rss: dict[int, float] = {}
    total = 0
    began = time.perf_counter()
    marks = {100_000, 250_000, 500_000, 750_000, 1_000_000, read_lines}
    while total < read_lines:
        new = await poller.poll_once()
        got = len(new.get(job_id, []))
        if not got:
            break
        before = total
        total += got
        for mark in marks:
            if before < mark <= total:
                rss[mark] = proc.memory_info().rss / 2**20
    read_s = time.perf_counter() - began
    return {
        "tail_1000_s": tail_s,
        "page_after_cursor_s": cursor_s,
        "poller_lines_read": total,
        "poller_read_s": read_s,
        "poller_lines_per_s": total / read_s,
        "poller_requests": poller.requests,
        "buffer_len": len(poller.lines(job_id)),
        **{f"rss_mib_at_{k}": round(v, 1) for k, v in sorted(rss.items())},
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="latency run length")
    parser.add_argument("--lines", type=int, default=1_000_000, help="entries to insert")
    parser.add_argument(
        "--read-lines", type=int, default=1_000_000, help="entries the poller reads"
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-volume", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="cloudpane-bench-") as tmp:
        if not args.skip_latency:
            info = daemon.start(Path(tmp) / "latency")
            try:
                backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
                results["latency"] = asyncio.run(latency(backend, args.seconds))
            finally:
                daemon.stop(Path(tmp) / "latency")
            print(json.dumps(results, indent=2), flush=True)
        if args.skip_volume:
            write_json(args.json, results)
            return
        data_dir = Path(tmp) / "volume"
        job_id, insert_s, middle_ns = insert_million(data_dir, args.lines)
        size_mib = (data_dir / "logs.sqlite3").stat().st_size / 2**20
        results["insert"] = {
            "lines": args.lines,
            "seconds": insert_s,
            "lines_per_s": args.lines / insert_s,
            "db_mib": round(size_mib, 1),
        }
        print(json.dumps(results, indent=2), flush=True)
        info = daemon.start(data_dir)
        try:
            backend = sandbox_backend(info.url, info.project, data_dir=info.data_dir)
            results["read"] = asyncio.run(
                volume(backend, job_id, min(args.read_lines, args.lines), middle_ns)
            )
        finally:
            daemon.stop(data_dir)
    print(json.dumps(results, indent=2))
    write_json(args.json, results)


if __name__ == "__main__":
    main()
