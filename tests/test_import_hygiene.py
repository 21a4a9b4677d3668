"""Layering rules, checked at run time in fresh interpreters.

- services and the sandbox never import Textual (they serve the UI, the CLI and the tests);
- the app's start-up imports no heavy client library (start-up must stay instant).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def modules_under(package: str) -> list[str]:
    folder = ROOT / package.replace(".", "/")
    return sorted(
        f"{package}.{path.stem}" for path in folder.glob("*.py") if path.stem != "__init__"
    )


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    return set(out.split())


@pytest.mark.parametrize("module", modules_under("tui.services") + modules_under("tui.sandbox"))
def test_services_and_sandbox_never_import_textual(module: str) -> None:
    loaded = imported_after(f"import {module}")
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}


HEAVY = ("google.cloud.compute_v1", "google.cloud.aiplatform", "tensorflow", "google.cloud.storage")


def test_app_start_up_imports_no_heavy_client() -> None:
    loaded = imported_after("import tui.__main__, tui.app")
    assert not [m for m in loaded if m.startswith(HEAVY)]
