"""The environment of what the sandbox runs for its owner: startup scripts and training replicas.

On Google a VM's startup script and a Vertex replica start in a machine or container of their
own: they see what the platform sets (the `AIP_*`, `CLOUD_ML_*`, `TF_CONFIG` variables, added
by the callers), a `PATH`, a `HOME` — and never the environment of whoever submitted them. So
here: never the daemon's `os.environ` (it may hold the user's tokens, or settings meant for the
daemon such as CLOUDPANE_SANDBOX_FAULTS), only the few variables below.

What reaches the sandbox is what a Vertex job's service account gives it on Google: the owner's
access, through Application Default Credentials (the sandbox's `adc.json`, see owner.py) and
the endpoint override google-cloud-storage honours (`API_ENDPOINT_OVERRIDE`). Not
`STORAGE_EMULATOR_HOST`: with it a plain `storage.Client()` drops its credentials and calls
anonymously, and could read public objects only.
"""

from __future__ import annotations

import os
from pathlib import Path

from tui.sandbox.context import SandboxContext
from tui.sandbox.owner import TOKEN_FILE, private_dir

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def guest_env(ctx: SandboxContext, home: Path, project: str) -> dict[str, str]:
    """The base environment of one guest; `home` is a folder of its own (created, 0700)."""
    private_dir(home)
    url = ctx.base_url
    env = {
        "PATH": os.environ.get("PATH") or DEFAULT_PATH,
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "PYTHONUNBUFFERED": "1",  # lines reach the logs as they are printed
        "GOOGLE_CLOUD_PROJECT": project,
        "CLOUDSDK_CORE_PROJECT": project,
    }
    if url:
        env.update(
            {
                "API_ENDPOINT_OVERRIDE": url,  # google-cloud-storage's endpoint, credentials kept
                "GOOGLE_APPLICATION_CREDENTIALS": str(ctx.adc_file),
                "CLOUDPANE_SANDBOX_URL": url,
                # gcloud: the owner's token and the sandbox's endpoints.
                "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(ctx.data_dir / TOKEN_FILE),
                **gcloud_overrides(url),
            }
        )
    return env


def gcloud_overrides(url: str) -> dict[str, str]:
    """gcloud's per-API endpoint settings for the sandbox's address."""
    return {
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": f"{url}/compute/v1/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{url}/storage/v1/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": f"{url}/",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": f"{url}/",
    }
