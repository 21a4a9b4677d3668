"""Cloud Logging's query language (the subset cloudpane uses), compiled to an SQLite WHERE clause.

Supported, with Google's semantics:

- comparisons `FIELD OP VALUE` with OP in `= != < <= > >= :` (`:` is "has", a case-insensitive
  substring match), and `FIELD = (V1 OR V2 ...)` value lists;
- fields `resource.type`, `resource.labels.NAME`, `timestamp`, `receiveTimestamp`, `severity`,
  `logName`, `insertId`, `textPayload`, `jsonPayload.NAME`, `labels.NAME`;
- `AND` (also implicit: two terms side by side), `OR`, `NOT` / a leading `-`, parentheses.
  As in Google's language, **OR binds tighter than AND**: `a AND b OR c` is `a AND (b OR c)`.

Anything else is answered with a 400 that names the problem and its position, as Google does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

SEVERITIES = {
    "DEFAULT": 0,
    "DEBUG": 100,
    "INFO": 200,
    "NOTICE": 300,
    "WARNING": 400,
    "ERROR": 500,
    "CRITICAL": 600,
    "ALERT": 700,
    "EMERGENCY": 800,
}
SEVERITY_NAMES = {v: k for k, v in SEVERITIES.items()}

# The resource label each resource type is looked up by (stored in an indexed column).
ID_LABELS = {"ml_job": "job_id", "gce_instance": "instance_id"}

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|!=|=~|!~|[=<>:])
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<minus>-(?=[A-Za-z(]))
  | (?P<word>[^\s()"=<>:!]+)
    """,
    re.VERBOSE,
)


class FilterError(ValueError):
    """A filter Google would reject (400 INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class Token:
    kind: str  # string, op, lparen, rparen, minus, word
    text: str
    pos: int


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise FilterError(f"Unparseable filter at position {pos + 1}: {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), pos))
        pos = match.end()
    return tokens


def parse_timestamp_ns(value: str) -> int:
    """RFC 3339 (any fraction up to nanoseconds, Z or an offset) or a date → ns since the epoch."""
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?",
        value.strip(),
    )
    if match is None:
        raise FilterError(f"Invalid timestamp {value!r}: use RFC 3339, e.g. 2024-05-01T12:00:00Z")
    date, clock, fraction, zone = match.groups()
    clock = clock or "00:00:00"
    if clock.count(":") == 1:
        clock += ":00"
    if zone in (None, "Z"):
        zone = "+00:00"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    try:
        moment = datetime.fromisoformat(f"{date}T{clock}{zone}")
    except ValueError as exc:
        raise FilterError(f"Invalid timestamp {value!r}: {exc}") from None
    nanos = int((fraction or "0").ljust(9, "0"))
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def format_timestamp(ns: int) -> str:
    """ns since the epoch → RFC 3339 in UTC with 6 digits (9 when the nanoseconds matter)."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos % 1000:
        return f"{base}.{nanos:09d}Z"
    return f"{base}.{nanos // 1000:06d}Z"


def severity_number(value: str) -> int:
    upper = value.upper()
    if upper in SEVERITIES:
        return SEVERITIES[upper]
    if value.isdigit():
        return int(value)
    raise FilterError(f"Unknown severity {value!r}; use one of {', '.join(SEVERITIES)}")


class _Parser:
    """Recursive descent: expression := conjunction; conjunction := disjunction ([AND] disjunction)*;
    disjunction := unary (OR unary)*; unary := (NOT|-) unary | '(' expression ')' | comparison."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.params: list[Any] = []

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise FilterError("Unexpected end of filter")
        self.i += 1
        return token

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text == word

    def parse(self) -> str:
        if not self.tokens:
            return "1"
        sql = self.conjunction()
        if self.peek() is not None:
            token = self.take()
            raise FilterError(f"Unexpected {token.text!r} at position {token.pos + 1}")
        return sql

    def conjunction(self) -> str:
        parts = [self.disjunction()]
        while True:
            token = self.peek()
            if token is None or token.kind == "rparen":
                break
            if self.at_word("AND"):
                self.take()
            parts.append(self.disjunction())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def disjunction(self) -> str:
        parts = [self.unary()]
        while self.at_word("OR"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def unary(self) -> str:
        token = self.peek()
        if token is None:
            raise FilterError("Unexpected end of filter")
        if self.at_word("NOT") or token.kind == "minus":
            self.take()
            return f"(NOT {self.unary()})"
        if token.kind == "lparen":
            self.take()
            inner = self.conjunction()
            closing = self.peek()
            if closing is None or closing.kind != "rparen":
                raise FilterError(f"Missing ')' for '(' at position {token.pos + 1}")
            self.take()
            return inner
        return self.comparison()

    def comparison(self) -> str:
        field = self.take()
        if field.kind != "word":
            raise FilterError(f"Expected a field name at position {field.pos + 1}")
        op = self.peek()
        if op is None or op.kind != "op":
            raise FilterError(
                f"Expected a comparison after {field.text!r} at position {field.pos + 1} "
                "(free-text search is not supported by the sandbox)"
            )
        self.take()
        if op.text in ("=~", "!~"):
            raise FilterError("Regular-expression comparisons are not supported by the sandbox")
        nxt = self.peek()
        if nxt is not None and nxt.kind == "lparen":  # FIELD = (a OR b OR c)
            self.take()
            values = [self.value()]
            while self.at_word("OR"):
                self.take()
                values.append(self.value())
            closing = self.take()
            if closing.kind != "rparen":
                raise FilterError(f"Expected ')' at position {closing.pos + 1}")
            return "(" + " OR ".join(self.compare(field, op.text, v) for v in values) + ")"
        return self.compare(field, op.text, self.value())

    def value(self) -> str:
        token = self.take()
        if token.kind == "string":
            return re.sub(r"\\(.)", r"\1", token.text[1:-1])
        if token.kind == "word":
            # An unquoted value may contain ':' (timestamps): join the adjacent pieces.
            text, end = token.text, token.pos + len(token.text)
            while (
                (nxt := self.peek()) is not None
                and nxt.pos == end
                and (nxt.kind == "word" or nxt.text == ":")
            ):
                self.take()
                text += nxt.text
                end = nxt.pos + len(nxt.text)
            return text
        raise FilterError(f"Expected a value at position {token.pos + 1}")

    def compare(self, field: Token, op: str, value: str) -> str:
        name = field.text
        sql_op = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}.get(op)
        if name in ("timestamp", "receiveTimestamp"):
            return self._ordered("ts", op, sql_op, parse_timestamp_ns(value))
        if name == "severity":
            return self._ordered("severity", op, sql_op, severity_number(value))
        if name.startswith("resource.labels."):
            label = name.removeprefix("resource.labels.")
            if label in ID_LABELS.values() and op in ("=", "!="):
                self.params.append(f"{label}={value}")
                neg = "IS NOT" if op == "!=" else "="
                return f"rid {neg} (SELECT id FROM log_resources WHERE key = ?)"
            return self._text(f"json_extract(resource_labels, {_json_path(label)})", op, value)
        columns = {
            "resource.type": "resource_type",
            "logName": "log_name",
            "log_name": "log_name",
            "insertId": "insert_id",
            "textPayload": "text_payload",
        }
        if name in columns:
            return self._text(columns[name], op, value)
        if name.startswith("jsonPayload."):
            path = _json_path(name.removeprefix("jsonPayload."))
            return self._text(f"json_extract(json_payload, {path})", op, value)
        if name.startswith("labels."):
            return self._text(f"json_extract(labels, {_json_path(name[7:])})", op, value)
        raise FilterError(
            f"Unsupported field {name!r} at position {field.pos + 1}; the sandbox supports "
            "resource.type, resource.labels.*, timestamp, severity, logName, insertId, "
            "textPayload, jsonPayload.*, labels.*"
        )

    def _ordered(self, column: str, op: str, sql_op: str | None, value: int) -> str:
        if op == ":":
            sql_op = "="
        assert sql_op is not None
        self.params.append(value)
        return f"{column} {sql_op} ?"

    def _text(self, column: str, op: str, value: str) -> str:
        if op == ":":
            self.params.append(value.lower())
            return f"instr(lower(COALESCE({column}, '')), ?) > 0"
        self.params.append(value)
        sql_op = {"=": "=", "!=": "IS NOT", "<": "<", "<=": "<=", ">": ">", ">=": ">="}[op]
        return f"{column} {sql_op} ?"


def _json_path(dotted: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_./-]+", dotted):
        raise FilterError(f"Unsupported field path {dotted!r}")
    return "'$." + ".".join(f'"{part}"' for part in dotted.split(".")) + "'"


def compile_filter(text: str) -> tuple[str, list[Any]]:
    """A Logging filter → (SQL boolean expression, parameters)."""
    parser = _Parser(text or "")
    sql = parser.parse()
    return sql, parser.params
