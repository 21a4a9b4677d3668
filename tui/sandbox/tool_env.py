"""`cloudpane sandbox env`: the settings the user's own tools need to reach the sandbox as its owner.

Each tool takes the owner's token through its ordinary credentials, nothing sandbox-specific:

- google-cloud-* and anything on google-auth: Application Default Credentials
  (`GOOGLE_APPLICATION_CREDENTIALS` = the sandbox's `adc.json`, an `authorized_user` file whose
  refresh token is the secret and whose token URI is the sandbox's `/token`);
- google-cloud-storage's endpoint: `API_ENDPOINT_OVERRIDE`, which keeps those credentials
  (`STORAGE_EMULATOR_HOST` would make `storage.Client()` anonymous: public objects only);
- the gcloud CLI: `CLOUDSDK_AUTH_ACCESS_TOKEN_FILE` and its per-API endpoint overrides.

The lines name files, never the secret itself: the output may end up in a shell history.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from tui.sandbox.guest_env import gcloud_overrides
from tui.sandbox.owner import ADC_FILE, TOKEN_FILE


def tool_env(url: str, project: str, data_dir: Path) -> dict[str, str]:
    return {
        "GOOGLE_CLOUD_PROJECT": project,
        "GOOGLE_APPLICATION_CREDENTIALS": str(data_dir / ADC_FILE),
        "API_ENDPOINT_OVERRIDE": url,
        "CLOUDPANE_SANDBOX_URL": url,
        "CLOUDSDK_CORE_PROJECT": project,
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(data_dir / TOKEN_FILE),
        **gcloud_overrides(url),
    }


def export_lines(url: str, project: str, data_dir: Path) -> str:
    """`export NAME=value` lines for a POSIX shell (`eval "$(cloudpane sandbox env)"`)."""
    env = tool_env(url, project, data_dir)
    return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in env.items())
