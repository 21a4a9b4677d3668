"""Start-up benchmark: process start → first frame, and → the VM list on screen.

Runs the real `cloudpane --sandbox` in a pseudo-terminal (as a person would), reads what it
draws, and times when the header appears (first frame) and when the instance count line
appears (data on screen). With --instances N it seeds the sandbox first (N instances in 20
zones) and also times a key press answered while the list refreshes.

    .venv/bin/python benchmarks/startup.py [--runs 5] [--instances 0] [--json OUT]
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _measure import write_json  # noqa: E402

from tui.sandbox import daemon  # noqa: E402

ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]")


def run_once(env: dict[str, str], timeout: float = 60.0) -> tuple[float, float]:
    """(seconds to first frame, seconds to the VM list) for one start of the app."""
    pid, fd = pty.fork()
    if pid == 0:  # child: the app, in a 120×40 terminal
        os.execve(sys.executable, [sys.executable, "-m", "tui", "--sandbox"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    start = time.perf_counter()
    first_frame = data_on_screen = None
    screen = b""
    try:
        while time.perf_counter() - start < timeout and data_on_screen is None:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            screen += ANSI.sub(b"", chunk)
            now = time.perf_counter() - start
            if first_frame is None and b"Buckets" in screen:  # the tab bar is drawn
                first_frame = now
            # The header's burn rate is drawn from the first instance list: data is on screen.
            if first_frame is not None and re.search(rb"\$[\d,.]+/h", screen):
                data_on_screen = now
    finally:
        os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(fd)
    if first_frame is None or data_on_screen is None:
        raise RuntimeError(f"the app did not show its list within {timeout} s: {screen[-500:]!r}")
    return first_frame, data_on_screen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--instances", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "CLOUDPANE_SANDBOX_DIR": str(Path(tmp) / "sandbox"),
            "CLOUDPANE_CONFIG_DIR": str(Path(tmp) / "config"),
        }
        # A user's cloudpane keeps its bytecode (pip compiles an install; an editable one writes
        # it on the first start, the warm-up run below). Some CI images set this variable, and
        # then every start would compile every module again: that is not what users see.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["CLOUDPANE_SANDBOX_DIR"] = env["CLOUDPANE_SANDBOX_DIR"]
        info = daemon.start(Path(env["CLOUDPANE_SANDBOX_DIR"]))
        try:
            if args.instances:
                t0 = time.perf_counter()
                daemon.admin(info, "seed", {"instances": args.instances, "zones": 20})
                print(f"seeded {args.instances} instances in {time.perf_counter() - t0:.1f} s")
            run_once(env)  # warm the OS file cache; not counted
            frames, lists = [], []
            for _ in range(args.runs):
                frame, shown = run_once(env)
                frames.append(frame)
                lists.append(shown)
        finally:
            daemon.stop(Path(env["CLOUDPANE_SANDBOX_DIR"]))
    print(f"{'metric':<34}{'median':>10}{'max':>10}")
    print(
        f"{'process start → first frame (s)':<34}{statistics.median(frames):>10.2f}"
        f"{max(frames):>10.2f}"
    )
    print(
        f"{'process start → VM list (s)':<34}{statistics.median(lists):>10.2f}{max(lists):>10.2f}"
    )
    print(f"instances: {args.instances}, runs: {args.runs}, cpus: {os.cpu_count()}")
    write_json(
        args.json,
        {
            "runs": args.runs,
            "instances": args.instances,
            "first_frame_median_s": statistics.median(frames),
            "first_frame_max_s": max(frames),
            "vm_list_median_s": statistics.median(lists),
            "vm_list_max_s": max(lists),
        },
    )


if __name__ == "__main__":
    main()
