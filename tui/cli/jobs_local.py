"""`cloudpane jobs submit --local-run`: try the job in the sandbox, submit to Vertex only if it
succeeded ("code should be sure to work before using AI platform").

The same package (built once), the same executor image — the sandbox prepares that image's
environment — the same arguments plus `--smoke-args` (e.g. one short epoch), in a staging bucket
of the same name in the sandbox.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tui.cli.jobs import (
    EXIT_JOB_FAILED,
    EXIT_OK,
    build_package,
    default_name,
    submit_built,
    submit_request,
)

if TYPE_CHECKING:
    from tui.services.clients import Backend


async def submit_after_local_run(
    args: argparse.Namespace,
    remote: Backend,
    local: Backend,
    region: str,
    *,
    out: TextIO,
    err: TextIO,
    poll_seconds: float = 2.0,
) -> int:
    """Run in `local` (the sandbox) with the smoke arguments; if it succeeded, submit to `remote`."""
    from tui.services.jobs import split_bucket
    from tui.services.local_first import ensure_bucket

    with tempfile.TemporaryDirectory(prefix="cloudpane-package-") as tmp:
        built = await asyncio.to_thread(build_package, args, Path(tmp))
        req = submit_request(args, region, default_name(args))
        print(f"Packaged {built.summary()}", file=out, flush=True)
        smoke = tuple(shlex.split(args.smoke_args or ""))
        trial = dataclasses.replace(req, trainer_args=(*req.trainer_args, *smoke))
        print("Trying it in the sandbox first (same package, image and arguments)…", file=out)
        await ensure_bucket(local, split_bucket(req.staging_bucket)[0])
        code, job = await submit_built(
            local, trial, built, out=out, wait=True, follow=True, poll_seconds=poll_seconds
        )
        if code != EXIT_OK:
            reason = f": {job.reason}" if job.reason else ""
            print(f"The sandbox run {job.status}{reason}. Nothing was submitted.", file=err)
            return EXIT_JOB_FAILED
        print("The sandbox run succeeded; submitting the same job.", file=out, flush=True)
        code, _ = await submit_built(
            remote,
            req,
            built,
            out=out,
            wait=args.wait,
            follow=args.follow,
            poll_seconds=poll_seconds,
        )
    return code
