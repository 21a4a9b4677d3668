"""Every benchmark, one command, one table: metric | value | target | pass/fail.

    .venv/bin/python benchmarks/suite.py [--quick] [--json OUT] [--only NAME,...] [--logs DIR]

Each benchmark script runs as its own process (so each peak memory figure is its own) and
writes its figures with `--json`; this script reads them and compares each with its target.
`--quick` runs small sizes (a smoke run, under 3 minutes; the targets are still checked but
mean little there). The full run takes about 15 minutes on a 2-core machine.

Exit status: 0 when every target is met, 1 otherwise (the whole table is printed either way).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Bench:
    """One benchmark script and its arguments at full scale and in a quick smoke run."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout_s: float


BENCHES: tuple[Bench, ...] = (
    Bench("startup", "startup.py", ("--runs", "7"), ("--runs", "1"), 300),
    Bench(
        "vms",
        "vms_scale.py",
        ("--instances", "5000"),
        ("--instances", "300", "--seconds", "4"),
        400,
    ),
    Bench(
        "ticker",
        "ticker_cpu.py",
        ("--instances", "5000", "--seconds", "20"),
        ("--seconds", "3"),
        120,
    ),
    Bench(
        "storage",
        "storage_bench.py",
        ("--objects", "100000", "--big-mb", "500", "--small", "1000"),
        ("--objects", "2000", "--big-mb", "20", "--small", "50"),
        900,
    ),
    Bench(
        "logs",
        "log_latency.py",
        ("--seconds", "30", "--lines", "1000000", "--read-lines", "1000000"),
        ("--seconds", "4", "--lines", "20000", "--read-lines", "20000"),
        900,
    ),
    Bench(
        "buckets",
        "panes_scale.py",
        ("buckets", "--objects", "100000"),
        ("buckets", "--objects", "3000", "--seconds", "4"),
        400,
    ),
    Bench(
        "jobs",
        "panes_scale.py",
        ("jobs", "--jobs", "200"),
        ("jobs", "--jobs", "20", "--seconds", "4"),
        400,
    ),
    Bench(
        "logview",
        "panes_scale.py",
        ("logview", "--lines", "1000000"),
        ("logview", "--lines", "20000", "--seconds", "4"),
        900,
    ),
)

MB = 500.0  # the memory bar: the process stays under 500 MB
KEY_MS = 100.0  # ... and no key press waits more than 100 ms on the UI thread


@dataclass(frozen=True)
class Metric:
    """A table row: a figure from one benchmark's JSON (dotted path), and its target."""

    bench: str
    label: str  # may name figures of the same benchmark: "{instances:,}"
    path: str
    unit: str
    target: float | None = None  # None: reported, not judged
    higher_is_better: bool = False
    scale: float = 1.0  # multiply the stored figure (e.g. s → ms)

    def judge(self, value: float) -> bool | None:
        if self.target is None:
            return None
        return value >= self.target if self.higher_is_better else value <= self.target

    def target_text(self) -> str:
        if self.target is None:
            return "—"
        sign = "≥" if self.higher_is_better else "≤"
        return f"{sign} {self.target:g} {self.unit}".rstrip()


METRICS: tuple[Metric, ...] = (
    Metric("startup", "start-up → first frame, median of {runs}", "first_frame_median_s", "s", 0.6),
    Metric(
        "startup", "start-up → first data (VM list), median of {runs}", "vm_list_median_s", "s", 4.0
    ),
    Metric("vms", "VMs {instances:,}: app start → all in the table", "all_in_table_s", "s"),
    Metric("vms", "VMs {instances:,}: data arrived → table on screen", "data_to_table_s", "s", 3.0),
    Metric("vms", "VMs {instances:,}: key press → cursor moved, median", "key_median_ms", "ms"),
    Metric(
        "vms", "VMs {instances:,}: key press → cursor moved, slowest", "key_max_ms", "ms", KEY_MS
    ),
    Metric(
        "vms", "VMs {instances:,}: slowest key after the first 5 s", "key_max_after_5s_ms", "ms"
    ),
    Metric(
        "vms",
        "VMs {instances:,}: key presses over 100 ms",
        "key_over_100ms",
        "of {key_presses:.0f}",
    ),
    Metric("vms", "VMs {instances:,}: peak memory", "peak_rss_mb", "MB", MB),
    Metric(
        "ticker", "cost ticker, {instances:,} running, 1 Hz: CPU", "cpu_share_pct", "% core", 10.0
    ),
    Metric(
        "storage",
        "first page of a {objects:,}-object bucket, slowest view",
        "first_page_max_ms",
        "ms",
        1000.0,
    ),
    Metric("storage", "upload {big_mb} MiB, StorageService", "upload_service_mb_s", "MB/s"),
    Metric(
        "storage", "upload {big_mb} MiB, plain upload_from_filename", "upload_plain_mb_s", "MB/s"
    ),
    Metric("storage", "upload {big_mb} MiB, service / plain", "upload_ratio_pct", "%", 80.0, True),
    Metric("storage", "download {big_mb} MiB, StorageService", "download_service_mb_s", "MB/s"),
    Metric(
        "storage",
        "download {big_mb} MiB, plain download_to_filename",
        "download_plain_mb_s",
        "MB/s",
    ),
    Metric(
        "storage", "download {big_mb} MiB, service / plain", "download_ratio_pct", "%", 90.0, True
    ),
    Metric(
        "storage",
        "small files upload, parallel vs plain, 20 ms RTT",
        "small_upload_speedup_20ms",
        "×",
        4.0,
        True,
    ),
    Metric(
        "storage",
        "small files upload, parallel vs plain, loopback",
        "small_upload_speedup_0ms",
        "×",
    ),
    Metric(
        "storage",
        "small files download, service vs plain, 20 ms RTT",
        "small_download_speedup_20ms",
        "×",
        4.0,
        True,
    ),
    Metric(
        "storage",
        "small files download, service vs plain, loopback",
        "small_download_speedup_0ms",
        "×",
    ),
    Metric("logs", "log line printed → poller, median", "latency.median_s", "s"),
    Metric("logs", "log line printed → poller, slowest", "latency.max_s", "s", 2.0),
    Metric(
        "logs",
        "log poller reading {read__poller_lines_read:,.0f} lines: peak memory",
        "read.peak_rss_mb",
        "MB",
        MB,
    ),
    Metric(
        "buckets",
        "Buckets {objects:,} objects: enter → first page on screen",
        "first_page_s",
        "s",
        1.0,
    ),
    Metric(
        "buckets", "Buckets {objects:,}: key press while pages load, median", "key_median_ms", "ms"
    ),
    Metric(
        "buckets",
        "Buckets {objects:,}: key press while pages load, slowest",
        "key_max_ms",
        "ms",
        KEY_MS,
    ),
    Metric(
        "buckets",
        "Buckets {objects:,}: slowest key after the first 5 s",
        "key_max_after_5s_ms",
        "ms",
    ),
    Metric(
        "buckets", "Buckets {objects:,}: rows loaded while pressing keys", "rows_loaded", "rows"
    ),
    Metric(
        "buckets",
        "Buckets {objects:,}: rows kept after paging to the end (cap 50,000)",
        "rows_in_table_at_end",
        "rows",
    ),
    Metric("buckets", "Buckets {objects:,}: peak memory", "peak_rss_mb", "MB", MB),
    Metric("jobs", "Jobs {jobs}: tab opened → all in the table", "all_in_table_s", "s"),
    Metric(
        "jobs", "Jobs {jobs}: key press while the list refreshes, median", "key_median_ms", "ms"
    ),
    Metric(
        "jobs",
        "Jobs {jobs}: key press while the list refreshes, slowest",
        "key_max_ms",
        "ms",
        KEY_MS,
    ),
    Metric("jobs", "Jobs {jobs}: slowest key after the first 5 s", "key_max_after_5s_ms", "ms"),
    Metric("jobs", "Jobs {jobs}: peak memory", "peak_rss_mb", "MB", MB),
    Metric("logview", "log view, job of {lines:,} lines: lines received", "received", "lines"),
    Metric(
        "logview",
        "log view {lines:,}: key press while lines stream, slowest",
        "key_max_ms",
        "ms",
        KEY_MS,
    ),
    Metric("logview", "log view {lines:,}: peak memory", "peak_rss_mb", "MB", MB),
)


# --- the table ---------------------------------------------------------------------------------


def lookup(figures: dict[str, Any], path: str) -> Any:
    value: Any = figures
    for part in path.split("."):
        value = value[part]
    return value


def _label(template: str, figures: dict[str, Any]) -> str:
    """Fill a label with figures; nested ones are named `outer__inner` ("{read__lines}")."""
    flat: dict[str, Any] = {}
    for key, value in figures.items():
        if isinstance(value, dict):
            flat.update({f"{key}__{k}": v for k, v in value.items()})
        flat[key] = value
    try:
        return template.format_map(flat)
    except (KeyError, ValueError, TypeError, IndexError):
        return _strip_fields(template)


def _strip_fields(template: str) -> str:
    """A label whose figures are unknown (the benchmark did not run): fields become "N"."""
    return re.sub(r"\{[^}]*\}", "N", template)


def _format_value(value: float) -> str:
    if value.is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def build_rows(
    results: Mapping[str, dict[str, Any] | None], metrics: tuple[Metric, ...] = METRICS
) -> list[dict[str, Any]]:
    """One row per metric: {metric, value, unit, target, ok}; ok None where nothing is judged.

    `results[bench]` is the benchmark's figures, None when it failed; a benchmark missing
    from `results` was not run (its rows say so and do not count as failures).
    """
    rows = []
    for metric in metrics:
        figures = results.get(metric.bench, "not run")
        row: dict[str, Any] = {"bench": metric.bench, "target": metric.target_text()}
        if figures == "not run" or figures is None:
            row.update(
                metric=_label(metric.label, {}),
                value="not run" if figures == "not run" else "FAILED",
                unit="",
                ok=None if figures == "not run" else False,
            )
        else:
            assert isinstance(figures, dict)
            row["metric"] = _label(metric.label, figures)
            try:
                value = float(lookup(figures, metric.path)) * metric.scale
            except (KeyError, TypeError, ValueError):
                row.update(value="missing", unit="", ok=False)
            else:
                row.update(
                    value=_format_value(value),
                    number=value,
                    unit=_label(metric.unit, figures),
                    ok=metric.judge(value),
                )
        rows.append(row)
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    verdict = {True: "pass", False: "FAIL", None: ""}
    lines = [("metric", "value", "target", "pass/fail")]
    lines += [
        (r["metric"], f"{r['value']} {r['unit']}".strip(), r["target"], verdict[r["ok"]])
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    out = []
    for n, (metric, value, target, ok) in enumerate(lines):
        out.append(f"{metric:<{widths[0]}} | {value:>{widths[1]}} | {target:<{widths[2]}} | {ok}")
        if n == 0:
            out.append("-+-".join("-" * w for w in widths))
    return "\n".join(out)


def all_met(rows: list[dict[str, Any]]) -> bool:
    return all(r["ok"] is not False for r in rows)


# --- the machine -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        ram_gib = psutil.virtual_memory().total / 2**30
        load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
    except (ImportError, OSError):
        ram_gib, load = 0.0, "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram_gib, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load,
    }


def header(info: dict[str, Any], quick: bool) -> str:
    return (
        f"cloudpane benchmarks{' (quick: small sizes)' if quick else ''} · {info['date']} · "
        f"{info['cpu']}, {info['cores']} cores, {info['ram_gib']:g} GiB RAM · "
        f"Python {info['python']} · {info['os']} · load before {info['load_before']}"
    )


# --- running -----------------------------------------------------------------------------------


def run_bench(bench: Bench, quick: bool, logs: Path, say: Callable[[str], None]) -> dict | None:
    """Run one script with --json; its figures, or None (with the log's end shown) if it broke."""
    out = logs / f"{bench.name}.json"
    log = logs / f"{bench.name}.log"
    out.unlink(missing_ok=True)
    args = [sys.executable, str(HERE / bench.script), *(bench.quick if quick else bench.full)]
    args += ["--json", str(out)]
    began = time.perf_counter()
    with log.open("w") as fh:
        try:
            code = subprocess.run(
                args, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=bench.timeout_s
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    took = time.perf_counter() - began
    figures = json.loads(out.read_text()) if out.exists() else None
    # Some scripts exit 1 when their own target is missed; their figures still count.
    if figures is None:
        tail = "\n    ".join(log.read_text(errors="replace").splitlines()[-15:])
        say(f"  {bench.name}: FAILED (exit {code}, {took:.0f} s); the end of {log}:\n    {tail}")
        return None
    say(f"  {bench.name}: {took:.0f} s")
    return dict(figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", type=Path, default=None, help="also write the table here")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {', '.join(b.name for b in BENCHES)}",
    )
    parser.add_argument("--logs", type=Path, default=None, help="keep each script's output here")
    args = parser.parse_args(argv)

    names = [n for n in args.only.split(",") if n] or [b.name for b in BENCHES]
    unknown = set(names) - {b.name for b in BENCHES}
    if unknown:
        parser.error(
            f"unknown benchmark(s): {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(b.name for b in BENCHES)}"
        )
    info = machine()

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    logs = args.logs or Path(tempfile.mkdtemp(prefix="cloudpane-suite-"))
    logs.mkdir(parents=True, exist_ok=True)
    say(f"running {len(names)} benchmark(s); their output goes to {logs}")
    results: dict[str, dict[str, Any] | None] = {}
    began = time.perf_counter()
    for bench in BENCHES:
        if bench.name in names:
            results[bench.name] = run_bench(bench, args.quick, logs, say)
    rows = build_rows(results)
    print(header(info, args.quick))
    print(render_table(rows))
    ok = all_met(rows)
    failed = sum(1 for r in rows if r["ok"] is False)
    print(
        f"{'all targets met' if ok else f'{failed} target(s) missed'} · "
        f"{time.perf_counter() - began:.0f} s"
    )
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"machine": info, "quick": args.quick, "rows": rows, "figures": results},
                indent=2,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
