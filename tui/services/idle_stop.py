"""Idle auto-stop that works with the laptop closed: a watcher that runs on the VM itself.

Compute Engine's own auto-stop (scheduling.maxRunDuration) stops a VM after a time, busy or
not. Stopping a VM because it is *idle* needs something that sees its CPU, GPUs and SSH
sessions — on the VM, since the laptop may be shut. With the user's consent, cloudpane adds a
small block to the VM's startup script that starts `tui/data/idle_watcher.py` (stdlib Python,
inlined, no download) in the background; it powers the VM off after N idle minutes (as
SkyPilot's autostop and Workbench's idle shutdown do). The label `cloudpane-idle-stop=<N>m`
says so in every listing (the table shows it); removing the block and the label removes it.

The block is delimited by marker lines, so the user's own startup script is kept intact
around it. It runs at each boot: added to a running VM, it starts with the next boot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

LABEL = "cloudpane-idle-stop"
BEGIN = "# >>> cloudpane idle auto-stop (managed by cloudpane: remove it there) >>>"
END = "# <<< cloudpane idle auto-stop <<<"
_BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.DOTALL)


@dataclass(frozen=True)
class IdleStop:
    """Stop after `minutes` with CPU below `cpu_pct` %, GPUs below `gpu_pct` %, no SSH."""

    minutes: float = 30.0
    cpu_pct: float = 5.0
    gpu_pct: float = 5.0
    interval_seconds: float = 60.0

    @property
    def label_value(self) -> str:
        return f"{self.minutes:g}m".replace(".", "_")  # label values: [a-z0-9_-]

    def describe(self) -> str:
        return f"stops itself after {self.minutes:g} min idle (CPU < {self.cpu_pct:g} %, no SSH)"


def watcher_source() -> str:
    return resources.files("tui").joinpath("data/idle_watcher.py").read_text()


def block(settings: IdleStop) -> str:
    """The startup-script lines that start the watcher in the background at boot.

    Its output goes to a file, not to the script runner: a background process holding the
    runner's stdout would keep "startup script running" forever on Google.
    """
    args = (
        f"{settings.minutes:g} {settings.cpu_pct:g} {settings.gpu_pct:g} "
        f"{settings.interval_seconds:g}"
    )
    return (
        f"{BEGIN}\n"
        ': "${CLOUDPANE_IDLE_LOG:=/var/log/cloudpane-idle.log}"\n'
        f"nohup python3 - {args} >>\"$CLOUDPANE_IDLE_LOG\" 2>&1 <<'CLOUDPANE_IDLE_WATCHER' &\n"
        f"{watcher_source().rstrip()}\n"
        "CLOUDPANE_IDLE_WATCHER\n"
        f"{END}\n"
    )


def without_watcher(script: str) -> str:
    return _BLOCK.sub("", script)


def with_watcher(script: str, settings: IdleStop | None) -> str:
    """The user's script with the watcher block (first, after a shebang line) — or without it
    when `settings` is None. The user's own lines are never changed."""
    rest = without_watcher(script)
    if settings is None:
        return rest
    shebang = ""
    if rest.startswith("#!"):
        shebang, _, rest = rest.partition("\n")
        if not re.search(r"\b(ba|da|z|k)?sh\b", shebang):
            raise ValueError(
                f"The idle watcher is started from a shell startup script; this one runs "
                f"{shebang[2:].strip()!r}. Start your program from a bash script instead."
            )
        shebang += "\n"
    return shebang + block(settings) + rest


def minutes_from_label(labels: dict[str, str]) -> float | None:
    value = labels.get(LABEL)
    if not value:
        return None
    try:
        return float(value.removesuffix("m").replace("_", "."))
    except ValueError:
        return None
