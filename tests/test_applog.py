"""cloudpane's log file: where an unexpected error's traceback goes, never a secret."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tui.applog import log_path, setup_file_log
from tui.services.errors import translate


@pytest.fixture
def file_log() -> Iterator[Path]:
    path = setup_file_log()
    assert path is not None
    yield path
    root = logging.getLogger("tui")
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()


def test_a_bug_is_logged_with_its_traceback_and_the_user_is_told_where(file_log: Path) -> None:
    assert file_log == log_path()

    def buggy() -> None:
        {}["missing"]

    try:
        buggy()
    except KeyError as exc:
        error = translate(exc, "list instances")
    assert error.message == "Could not list instances: KeyError: 'missing'"
    assert str(file_log) in error.hint and "This is unexpected" in error.hint
    text = file_log.read_text()
    assert "unexpected error (list instances)" in text
    assert "Traceback" in text and "in buggy" in text


def test_the_log_never_holds_a_token(file_log: Path) -> None:
    token = "ya29.a0AfH6SMBxSECRETxSECRETxSECRET"
    try:
        raise ValueError(f"refresh failed for Bearer {token}")
    except ValueError as exc:
        translate(exc, "refresh")
    text = file_log.read_text()
    assert "refresh failed" in text and token not in text and "[redacted]" in text


def test_cloud_errors_are_not_bugs(file_log: Path) -> None:
    from google.api_core import exceptions as gexc

    translate(gexc.ServiceUnavailable("busy"), "list")
    translate(ConnectionError("reset"), "list")
    assert not file_log.exists() or "unexpected" not in file_log.read_text()


def test_an_unwritable_state_folder_leaves_the_app_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("CLOUDPANE_STATE_DIR", str(blocker / "state"))
    assert setup_file_log() is None
