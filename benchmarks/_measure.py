"""What the app-level benchmarks share: key-press latency, memory, the JSON figures file.

Key latency is measured as a person feels it: a key event handed to the app's driver, as a
terminal key press is (the app runs headless in this process, on this event loop), timed until
its effect is visible (the cursor moved, a flag flipped). The work competing for the UI thread —
list refreshes, pages loading, log lines arriving — keeps running meanwhile.

Not `Pilot.press`: after each key it waits until the whole *process* looks idle (process CPU
time vs wall time, up to 1 s, twice), so a worker thread parsing a big listing is counted as
key latency although the UI thread answered the key long before.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

SLOW_KEY_S = 0.1  # the bar: no key press waits more than 100 ms on the UI thread
WARM_UP_S = 5.0  # presses in the first seconds overlap the first load; reported apart


def send_key(app: Any, key: str) -> None:
    """Queue one key press the way the terminal driver does (no waiting)."""
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)


async def key_latencies(
    app: Any,
    key: str | Callable[[int], str],
    changed: Callable[[], object],
    seconds: float,
    gap: float = 0.2,
    give_up_s: float = 10.0,
) -> list[tuple[float, float]]:
    """Press `key` every `gap` seconds for `seconds`; each press is timed until `changed()`
    returns something else than before it. Returns (seconds since the start, latency).

    With CLOUDPANE_BENCH_PROFILE=1 in the environment, a StallProfiler watches meanwhile and
    prints where the UI thread's stalls went."""
    profiler = StallProfiler() if os.environ.get("CLOUDPANE_BENCH_PROFILE") else None
    if profiler is not None:
        profiler.__enter__()
    try:
        return await _press_and_time(app, key, changed, seconds, gap, give_up_s)
    finally:
        if profiler is not None:
            profiler.__exit__()
            print(profiler.report(), flush=True)


async def _press_and_time(
    app: Any,
    key: str | Callable[[int], str],
    changed: Callable[[], object],
    seconds: float,
    gap: float,
    give_up_s: float,
) -> list[tuple[float, float]]:
    latencies: list[tuple[float, float]] = []
    loop_start = time.perf_counter()
    n = 0
    while time.perf_counter() - loop_start < seconds:
        name = key(n) if callable(key) else key
        n += 1
        before = changed()
        start = time.perf_counter()
        send_key(app, name)
        while changed() == before:
            if time.perf_counter() - start > give_up_s:
                raise RuntimeError(f"key {name!r} had no visible effect in {give_up_s} s")
            await asyncio.sleep(0.001)
        latencies.append((start - loop_start, time.perf_counter() - start))
        await asyncio.sleep(gap)
    return latencies


def latency_summary(latencies: list[tuple[float, float]]) -> dict[str, float]:
    """Median, slowest (all, and after the warm-up), and how many waited over 100 ms."""
    every = [lat for _, lat in latencies] or [0.0]
    early = [lat for at, lat in latencies if at <= WARM_UP_S] or [0.0]
    steady = [lat for at, lat in latencies if at > WARM_UP_S] or [0.0]
    return {
        "presses": len(latencies),
        "median_ms": statistics.median(every) * 1000,
        "p95_ms": sorted(every)[min(len(every) - 1, int(0.95 * len(every)))] * 1000,
        "max_ms": max(every) * 1000,
        "max_first_5s_ms": max(early) * 1000,
        "max_after_5s_ms": max(steady) * 1000,
        "over_100ms": sum(1 for lat in every if lat > SLOW_KEY_S),
    }


def print_latency(label: str, summary: dict[str, float]) -> None:
    print(f"{label + ', median (ms)':<58}{summary['median_ms']:>12.0f}")
    print(f"{label + ', max in first 5 s (ms)':<58}{summary['max_first_5s_ms']:>12.0f}")
    print(f"{label + ', max after 5 s (ms)':<58}{summary['max_after_5s_ms']:>12.0f}")
    slow = f"{summary['over_100ms']:.0f}/{summary['presses']:.0f}"
    print(f"{'  presses slower than 100 ms':<58}{slow:>12}")


def peak_rss_mb() -> float:
    """The process's peak resident memory so far, in MB (10^6 bytes; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def rss_mb() -> float:
    """The process's resident memory now, in MB."""
    return float(psutil.Process().memory_info().rss) / 1e6


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    """The figures for benchmarks/suite.py (a flat dict of numbers, plus labels)."""
    if path is not None:
        path.write_text(json.dumps(figures, indent=2, sort_keys=True))


class StallProfiler:
    """Where the UI thread's time goes when it stalls (py-spy is not at hand).

    A heartbeat task on the event loop stamps the time every 2 ms; a sampler thread looks
    every 2 ms. When the heartbeat is older than `stall_ms`, the sampler records every
    thread's innermost frames (sys._current_frames). A thread that holds the GIL in a long C
    call (a JSON → protobuf parse) blocks the sampler too, so each stall is also attributed
    to what the *other* threads were doing when the sampler got to run again.
    """

    def __init__(self, stall_ms: float = 50.0, depth: int = 6) -> None:
        import threading

        self.stall_s = stall_ms / 1000
        self.depth = depth
        self.beat = time.perf_counter()
        self.main_ident = threading.get_ident()
        self.stalls: list[float] = []
        self.main: dict[str, int] = {}
        self.others: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True, name="stall-sampler")
        self._task: asyncio.Task[None] | None = None

    async def _heartbeat(self) -> None:
        while True:
            self.beat = time.perf_counter()
            await asyncio.sleep(0.002)

    def _where(self, frame: Any) -> str:
        parts: list[str] = []
        while frame is not None and len(parts) < self.depth:
            code = frame.f_code
            name = code.co_filename.rsplit("site-packages/", 1)[-1].replace(str(Path.cwd()), "")
            parts.append(f"{name}:{frame.f_lineno} {code.co_name}")
            frame = frame.f_back
        return " ← ".join(parts)

    def _sample(self) -> None:
        import sys
        import threading

        in_stall = False
        stall_start = 0.0
        while not self._stop.is_set():
            time.sleep(0.002)
            late = time.perf_counter() - self.beat
            if late > self.stall_s:
                if not in_stall:
                    in_stall, stall_start = True, self.beat
                names = {t.ident: t.name for t in threading.enumerate()}
                for ident, frame in sys._current_frames().items():
                    if ident == threading.get_ident():
                        continue
                    where = self._where(frame)
                    if ident == self.main_ident:
                        self.main[where] = self.main.get(where, 0) + 1
                    else:
                        key = f"[{names.get(ident, '?')}] {where}"
                        self.others[key] = self.others.get(key, 0) + 1
            elif in_stall:
                in_stall = False
                self.stalls.append(self.beat - stall_start)

    def __enter__(self) -> StallProfiler:
        self._task = asyncio.get_running_loop().create_task(self._heartbeat())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._task is not None:
            self._task.cancel()

    def report(self, top: int = 8) -> str:
        lines = [
            f"UI-thread stalls over {self.stall_s * 1000:.0f} ms: {len(self.stalls)}, "
            f"longest {max(self.stalls, default=0) * 1000:.0f} ms, "
            f"total {sum(self.stalls) * 1000:.0f} ms"
        ]
        for title, counts in (("UI thread", self.main), ("other threads", self.others)):
            lines.append(f"  {title} during stalls (samples):")
            for where, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
                lines.append(f"    {n:5d}  {where}")
        return "\n".join(lines)
