"""A log line's own level, read from the prefix its logging library printed — pure.

Vertex AI records a replica's stdout as INFO and its stderr as ERROR (docs/gcp-facts.md), and
Python logging, absl and TensorFlow all print to stderr: on Google every line of a healthy job
is "ERROR". The level the program meant is in the line itself, so the log view shows that one
(colour, label) wherever Google's severity only says which stream the line came from.
"""

from __future__ import annotations

import re

# absl / glog: "I1202 14:00:00.123456 140 file.py:12] msg" (I W E F = info warning error fatal)
_GLOG = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d")
# TensorFlow C++: "2026-12-02 14:00:00.000000: I tensorflow/core/...] msg"
_TF_CPP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?: ([IWEF]) ")
# Python logging's default format (basicConfig): "WARNING:root:msg", "INFO:trainer.task:msg"
_PY_LOGGING = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):[^\s:]*:")
# Python warnings: "/path/x.py:3: UserWarning: msg"
_PY_WARNING = re.compile(r"^\S+:\d+: [A-Za-z]*Warning: ")

_LETTER = {"I": "INFO", "W": "WARNING", "E": "ERROR", "F": "CRITICAL"}

# Severities Vertex gives by stream (stdout INFO, stderr ERROR), or none given at all: these
# say nothing of the line's meaning. A NOTICE or WARNING the program set itself is kept.
STREAM_SEVERITIES = frozenset({"DEFAULT", "INFO", "ERROR"})


def own_level(text: str) -> str | None:
    """The level a line's prefix names ("INFO", "WARNING", ...), or None if it names none."""
    for pattern in (_GLOG, _TF_CPP):
        match = pattern.match(text)
        if match:
            return _LETTER[match.group(1)]
    match = _PY_LOGGING.match(text)
    if match:
        return match.group(1)
    if _PY_WARNING.match(text):
        return "WARNING"
    return None


def shown_severity(severity: str, text: str) -> str:
    """The severity to show: the line's own level where Google's only names its stream."""
    if severity in STREAM_SEVERITIES:
        return own_level(text) or severity
    return severity
