"""`cloudpane status` against `gcloud compute instances list`, side by side, on one sandbox.

    .venv/bin/python benchmarks/status_vs_gcloud.py [--instances 20] [--runs 5] [--json OUT]

Starts a private sandbox, seeds it with N instances, then runs each command as a whole new
process, alternately (so both meet the same machine load), and prints the medians, their
ratio (cloudpane / gcloud; the issue's bar is ≤ 1.0), the machine and the date. Absolute times
vary with the machine; the ratio is the figure to compare.

gcloud reads the sandbox through a throw-away configuration folder (CLOUDSDK_CONFIG) with the
Compute endpoint overridden and the owner's token file, as `cloudpane sandbox env` sets it up. Without
gcloud on PATH only cloudpane is timed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def timed(
    cmd: list[str], env: dict[str, str], ok: tuple[int, ...], expect: str
) -> tuple[float, int]:
    """One whole-process run; refused unless it exited as `ok` and printed `expect` (a failed
    read is quick, and would make a fine-looking but false figure)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - start
    if done.returncode not in ok or expect not in done.stdout:
        raise SystemExit(
            f"{cmd[0]} did not read the fleet ({done.returncode}):\n{done.stderr[-2000:]}"
        )
    return took, done.returncode


def gcloud_env(
    base: dict[str, str], url: str, project: str, folder: Path, token: Path
) -> dict[str, str]:
    """gcloud as `cloudpane sandbox env` sets it up: the owner's token file (the sandbox serves
    only its owner) and the Compute endpoint, in a throw-away configuration folder."""
    env = {**base, "CLOUDSDK_CONFIG": str(folder)}
    env["CLOUDSDK_CORE_PROJECT"] = project
    env["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"] = str(token)
    env["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] = f"{url}/compute/v1/"
    env["CLOUDSDK_CORE_DISABLE_USAGE_REPORTING"] = "true"
    env["CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK"] = "true"
    return env


def machine() -> dict[str, str]:
    gcloud = shutil.which("gcloud")
    version = ""
    if gcloud:
        out = subprocess.run([gcloud, "version"], capture_output=True, text=True, timeout=120)
        version = out.stdout.splitlines()[0] if out.stdout else ""
    return {
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "gcloud": version or "not installed",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)

    from tui.sandbox import daemon

    with tempfile.TemporaryDirectory(prefix="cloudpane-bench-") as tmp:
        folder = Path(tmp)
        info = daemon.start(folder / "sandbox")
        try:
            daemon.admin(info, "seed", {"instances": args.instances, "zones": 20})
            base = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
            for name in ("CLOUDPANE_CONFIG_DIR", "CLOUDPANE_CACHE_DIR", "CLOUDPANE_STATE_DIR"):
                base[name] = str(folder / name.lower())
            base["CLOUDPANE_SANDBOX_DIR"] = str(info.data_dir)
            status = [sys.executable, "-m", "tui.cli.status", "--sandbox"]
            gcloud_bin = shutil.which("gcloud")
            token = info.data_dir / "owner-token"
            genv = gcloud_env(base, info.url, info.project, folder / "gcloud", token)
            listing = [gcloud_bin or "gcloud", "compute", "instances", "list", "--format=json"]
            # status exits 0, or 1 when a warning stands; both read the fleet.
            mine = (status, base, (0, 1), "Running instances")
            peer = (listing, genv, (0,), '"kind": "compute#instance"')
            # One unmeasured run each: the sandbox's first answers and gcloud's first-run setup.
            timed(*mine)
            if gcloud_bin:
                timed(*peer)
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(args.runs):
                ours.append(timed(*mine)[0])
                if gcloud_bin:
                    theirs.append(timed(*peer)[0])
        finally:
            daemon.stop(info.data_dir)

    figures: dict[str, object] = {
        "instances": args.instances,
        "runs": args.runs,
        "status_median_s": round(statistics.median(ours), 3),
        "status_runs_s": [round(t, 3) for t in ours],
        **machine(),
    }
    print(f"machine: {figures['cores']} cores, Python {figures['python']}, {figures['platform']}")
    print(f"gcloud:  {figures['gcloud']}")
    print(f"date:    {figures['date']}")
    print(f"{args.instances} instances, whole-process medians of {args.runs} runs:")
    print(f"  cloudpane status --sandbox          {statistics.median(ours):6.2f} s")
    if theirs:
        ratio = statistics.median(ours) / statistics.median(theirs)
        figures["gcloud_median_s"] = round(statistics.median(theirs), 3)
        figures["gcloud_runs_s"] = [round(t, 3) for t in theirs]
        figures["ratio"] = round(ratio, 3)
        print(f"  gcloud compute instances list       {statistics.median(theirs):6.2f} s")
        print(f"  ratio cloudpane / gcloud            {ratio:6.2f}  (target ≤ 1.00)")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
