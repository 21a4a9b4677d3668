"""A line's own level from its logging prefix (absl, Python logging, TensorFlow C++)."""

from __future__ import annotations

import pytest

from tui.services.log_levels import own_level, shown_severity


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ("I1202 14:00:00.000000 140 task.py:12] hello", "INFO"),
        ("W1202 14:00:00.123 123 file.cc:1] careful", "WARNING"),
        ("E1202 14:00:00.123 123 file.cc:1] broke", "ERROR"),
        ("F1202 14:00:00.123 123 file.cc:1] died", "CRITICAL"),
        (
            "2026-12-02 14:00:00.000000: I tensorflow/core/platform/cpu_feature_guard.cc:1] AVX",
            "INFO",
        ),
        ("2026-12-02 14:00:00.000000: W tensorflow/core/x.cc:1] slow", "WARNING"),
        ("2026-12-02 14:00:00.000000: E external/local_xla/x.cc:1] no CUDA", "ERROR"),
        ("INFO:root:starting", "INFO"),
        ("WARNING:trainer.task:no GPU", "WARNING"),
        ("DEBUG:urllib3.connectionpool:Starting", "DEBUG"),
        ("CRITICAL:root:gone", "CRITICAL"),
        ("/x.py:3: UserWarning: deprecated", "WARNING"),
        ("Traceback (most recent call last):", None),
        ("ValueError: bad", None),
        ("Epoch 1/10", None),
        ("the INFO: word later in a line", None),
        ("", None),
    ],
)
def test_own_level(line: str, level: str | None) -> None:
    assert own_level(line) == level


def test_shown_severity_replaces_only_the_stream_severity() -> None:
    assert shown_severity("ERROR", "INFO:root:chatter") == "INFO"  # stderr on Vertex
    assert shown_severity("INFO", "WARNING:root:careful") == "WARNING"  # stdout
    assert shown_severity("ERROR", "RuntimeError: boom") == "ERROR"
    assert shown_severity("WARNING", "INFO:root:x") == "WARNING"  # the program's own choice
    assert shown_severity("CRITICAL", "I1202 14:00:00.0 1 x] y") == "CRITICAL"
