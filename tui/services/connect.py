"""Find out what to manage: a real Google Cloud project, or the local sandbox.

Blocking (it may start the sandbox daemon and reads credentials): call it off the UI thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tui.config import Config, resolve_project
from tui.services.clients import Backend, sandbox_backend
from tui.services.errors import NO_CREDENTIALS_HINT, NoCredentials, NoProject, translate

SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


@dataclass(frozen=True)
class Connection:
    backend: Backend
    note: str = ""  # shown once to the user, e.g. why the sandbox was chosen
    sandbox_dir: Path | None = None  # the sandbox's data directory, when on the sandbox


def connect_sandbox(config: Config, note: str = "") -> Connection:
    from tui.sandbox import daemon

    try:
        info = daemon.start()
    except (daemon.SandboxError, OSError) as exc:
        raise NoCredentials(
            f"The local sandbox could not start: {exc}",
            "See `cloudpane sandbox status`, or pass --project with Google credentials.",
        ) from exc
    backend = sandbox_backend(
        info.url, info.project, config.region, config.zone, data_dir=info.data_dir
    )
    return Connection(backend, note, info.data_dir)


def adc_may_exist() -> bool:
    """Whether google.auth.default() can possibly find credentials.

    Checked first because google.auth.default() probes the GCE metadata server, which on a
    network that drops packets costs seconds; a laptop without credentials must start at once.
    """
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    gcloud_dir = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    if (gcloud_dir / "application_default_credentials.json").exists():
        return True
    if os.environ.get("GCE_METADATA_HOST") or os.environ.get("GCE_METADATA_IP"):
        return True
    try:  # Compute Engine, Cloud Shell, Vertex Workbench: the metadata server has credentials
        product = Path("/sys/class/dmi/id/product_name").read_text()
    except OSError:
        return os.name != "posix" or not Path("/sys").exists()
    return "Google" in product


NO_CREDENTIALS_NOTE = (
    "No Google credentials found, so this is the local sandbox. "
    "Run `gcloud auth application-default login` to manage a real project."
)


def _no_credentials(project: str, source: str) -> NoCredentials:
    return NoCredentials(
        f"No Google credentials found for project {project} (set by {source}); "
        "not switching to the sandbox.",
        NO_CREDENTIALS_HINT,
    )


def connect(cli_project: str | None, use_sandbox: bool, config: Config) -> Connection:
    """The backend to use: the sandbox when asked, or when neither a project nor Google
    credentials exist anywhere.

    A project named anywhere (flag, GOOGLE_CLOUD_PROJECT / CLOUDSDK_CORE_PROJECT, the config
    file, gcloud's active configuration) without credentials is an error, never the sandbox:
    an on-call `status` must not report "all clear" about a project it never read.
    """
    if use_sandbox or os.environ.get("CLOUDPANE_SANDBOX") == "1":
        return connect_sandbox(config)
    project, source = resolve_project(cli_project, config)
    if not adc_may_exist():
        if project:
            raise _no_credentials(project, source)
        return connect_sandbox(config, NO_CREDENTIALS_NOTE)
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, adc_project = google.auth.default(scopes=SCOPES)
    except DefaultCredentialsError:
        if project:
            raise _no_credentials(project, source) from None
        return connect_sandbox(config, NO_CREDENTIALS_NOTE)
    except Exception as exc:
        raise translate(exc, "read your Google credentials") from exc
    project = project or adc_project
    if not project:
        raise NoProject(
            "Google credentials were found, but no project is set.",
            "Pass --project NAME, set GOOGLE_CLOUD_PROJECT, or run `gcloud config set project NAME`.",
        )
    return Connection(Backend(project, credentials, None, False, config.region, config.zone))
