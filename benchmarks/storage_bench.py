"""Cloud Storage figures against a fresh local sandbox; prints a table.

    .venv/bin/python benchmarks/storage_bench.py [--objects 100000] [--big-mb 500] [--small 1000]
        [--json OUT]

1. First page (200 entries) of a bucket holding N objects (seeded directly by the sandbox's
   `seed` hook): flat, folder view at the top, and inside one folder.
2. One big file: StorageService.upload vs a plain `blob.upload_from_filename`, same sandbox.
3. Many small files: StorageService.upload with 16 workers vs one at a time; also with 20 ms
   of injected latency per request (a round trip to a real cloud region).
4. Downloads, the same two shapes: the big file through StorageService.download vs a plain
   `blob.download_to_filename`; the small files as a folder through StorageService.download
   (8 workers, its default) vs plain `download_to_filename` calls one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _measure import write_json

from tui.sandbox import daemon
from tui.services.clients import sandbox_backend
from tui.services.storage import StorageService
from tui.services.storage_models import DownloadResult, UploadResult

rows: list[tuple[str, str, str]] = []
figures: dict[str, float] = {}  # for --json (benchmarks/suite.py)


def row(what: str, value: str, target: str = "") -> None:
    rows.append((what, value, target))
    print(f"  {what:<58} {value:>14}  {target}", flush=True)


async def timed(fn: Callable[[], Awaitable[Any]], repeat: int = 1) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = await fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def listing(svc: StorageService, info: daemon.SandboxInfo, objects: int) -> None:
    start = time.perf_counter()
    daemon.admin(info, "seed", {"objects": objects, "bucket": "bench-flat"})
    daemon.admin(info, "seed", {"objects": objects, "bucket": "bench-folders", "folders": 100})
    row(f"seed 2 x {objects:,} objects (sandbox hook)", f"{time.perf_counter() - start:.1f} s")
    await svc.list_page("bench-flat", page_size=200)  # warm the client and the connection
    cases = [
        ("flat bucket, folder view, first 200", "bench-flat", ""),
        ("100 folders, top level (100 prefixes)", "bench-folders", ""),
        ("inside one folder, first 200", "bench-folders", "folder-0042/"),
    ]
    for label, bucket, prefix in cases:
        seconds, page = await timed(
            partial(svc.list_page, bucket, prefix=prefix, page_size=200), repeat=5
        )
        entries = len(page.blobs) + len(page.folders)
        row(f"first page, {label} ({entries})", f"{seconds * 1000:.0f} ms", "≤ 1 s")
        figures["first_page_max_ms"] = max(figures.get("first_page_max_ms", 0), seconds * 1000)
    figures["objects"] = objects


def make_file(path: Path, size: int) -> None:
    block = os.urandom(8 * 1024 * 1024)
    with path.open("wb") as fh:
        left = size
        while left > 0:
            fh.write(block[: min(left, len(block))])
            left -= len(block)


async def big_file(svc: StorageService, work: Path, megabytes: int) -> None:
    size = megabytes * 1024 * 1024
    path = work / "big.bin"
    make_file(path, size)
    await svc.create_bucket("bench-big", "us-central1")
    bucket = svc.client().bucket("bench-big")

    async def plain() -> None:
        await asyncio.to_thread(bucket.blob("plain.bin").upload_from_filename, str(path))

    async def service() -> None:
        result = await svc.upload("bench-big", path, "svc/", on_exists="overwrite")
        assert result.ok, result.failed

    plain_s, _ = await timed(plain, repeat=2)
    svc_s, _ = await timed(service, repeat=2)
    mb = size / 1e6
    row(f"{megabytes} MiB upload, blob.upload_from_filename", f"{mb / plain_s:.0f} MB/s")
    row(f"{megabytes} MiB upload, StorageService.upload", f"{mb / svc_s:.0f} MB/s")
    row("  service / plain throughput", f"{plain_s / svc_s * 100:.0f} %", "≥ 80 %")
    figures.update(
        big_mb=megabytes,
        upload_plain_mb_s=mb / plain_s,
        upload_service_mb_s=mb / svc_s,
        upload_ratio_pct=plain_s / svc_s * 100,
    )
    path.unlink()
    await big_download(svc, work, megabytes)


async def big_download(svc: StorageService, work: Path, megabytes: int) -> None:
    """The big object back: plain download_to_filename vs StorageService.download."""
    bucket = svc.client().bucket("bench-big")
    out = work / "down"
    out.mkdir()

    async def plain() -> None:
        # The peer: the plain client call, then one fsync (StorageService's downloads are
        # durable before they take the file's name; the comparison keeps that).
        target = out / "plain-copy.bin"

        def fetch() -> None:
            bucket.blob("plain.bin").download_to_filename(str(target))
            with target.open("rb+") as fh:
                os.fsync(fh.fileno())

        await asyncio.to_thread(fetch)

    async def service() -> None:
        result = await svc.download("bench-big", "plain.bin", out, on_exists="overwrite")
        assert result.ok, result.failed

    plain_s, _ = await timed(plain, repeat=2)
    svc_s, _ = await timed(service, repeat=2)
    mb = megabytes * 1024 * 1024 / 1e6
    row(f"{megabytes} MiB download, download_to_filename + fsync", f"{mb / plain_s:.0f} MB/s")
    row(f"{megabytes} MiB download, StorageService.download", f"{mb / svc_s:.0f} MB/s")
    row("  service / plain throughput", f"{plain_s / svc_s * 100:.0f} %", "≥ 90 %")
    figures.update(
        download_plain_mb_s=mb / plain_s,
        download_service_mb_s=mb / svc_s,
        download_ratio_pct=plain_s / svc_s * 100,
    )
    shutil.rmtree(out)


async def small_files(
    svc: StorageService, info: daemon.SandboxInfo, work: Path, count: int
) -> None:
    folder = work / "small"
    folder.mkdir()
    for i in range(count):
        (folder / f"f{i:05d}.txt").write_bytes(os.urandom(1024))
    await svc.create_bucket("bench-small", "us-central1")
    for latency in (0, 20):
        daemon.admin(info, "faults", {"latency_ms": latency})

        async def upload(prefix: str, workers: int) -> UploadResult:
            return await svc.upload("bench-small", folder, prefix, parallel=workers)

        serial, _ = await timed(partial(upload, f"serial{latency}/", 1))
        parallel, result = await timed(partial(upload, f"parallel{latency}/", 16))
        assert result.ok and len(result.uploaded) == count
        where = f"{latency} ms latency" if latency else "loopback"
        row(f"{count:,} x 1 KiB, one at a time ({where})", f"{serial:.1f} s")
        row(f"{count:,} x 1 KiB, 16 in parallel ({where})", f"{parallel:.1f} s")
        row("  speed-up", f"{serial / parallel:.1f} x", "≥ 4 x")
        figures[f"small_upload_speedup_{latency}ms"] = serial / parallel
        await small_download(svc, work, count, latency)
    daemon.admin(info, "faults", {})


async def small_download(svc: StorageService, work: Path, count: int, latency: int) -> None:
    """The small files back (uploaded under parallel0/): one plain call at a time vs the
    service's folder download."""
    client = svc.client()

    async def plain() -> None:
        out = work / f"plain{latency}"
        out.mkdir()

        def fetch_all() -> None:
            for blob in client.list_blobs("bench-small", prefix="parallel0/"):
                blob.download_to_filename(str(out / blob.name.rsplit("/", 1)[1]))

        await asyncio.to_thread(fetch_all)

    async def service() -> DownloadResult:
        return await svc.download("bench-small", "parallel0/", work / f"svc{latency}")

    serial, _ = await timed(plain)
    parallel, result = await timed(service)
    assert result.ok and len(result.downloaded) == count, result.failed
    where = f"{latency} ms latency" if latency else "loopback"
    row(f"{count:,} x 1 KiB download, plain one at a time ({where})", f"{serial:.1f} s")
    row(f"{count:,} x 1 KiB download, StorageService.download ({where})", f"{parallel:.1f} s")
    row("  speed-up", f"{serial / parallel:.1f} x", "≥ 4 x" if latency else "")
    figures[f"small_download_speedup_{latency}ms"] = serial / parallel


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="measure the sandbox already running for this data directory (default: a fresh one)",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cloudpane-bench-"))
    running = daemon.status(args.data_dir) if args.data_dir else None
    if args.data_dir and running is None:
        sys.exit(f"No sandbox is running for {args.data_dir}.")
    info = running or daemon.start(work / "sandbox")
    try:
        svc = StorageService(sandbox_backend(info.url, info.project, data_dir=info.data_dir))
        print(f"sandbox {info.url}, {os.cpu_count()} CPUs")
        await listing(svc, info, args.objects)
        await big_file(svc, work, args.big_mb)
        await small_files(svc, info, work, args.small)
    finally:
        if running is None:
            daemon.stop(work / "sandbox")
        shutil.rmtree(work, ignore_errors=True)
    print("\n| measurement | result | target |\n| --- | ---: | --- |")
    for what, value, target in rows:
        print(f"| {what.strip()} | {value} | {target} |")
    write_json(args.json, figures)


if __name__ == "__main__":
    asyncio.run(main())
