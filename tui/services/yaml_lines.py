"""Read a YAML document against a small schema, keeping the line of every field.

PyYAML's `safe_load` forgets where each value came from, so a message like "minValue must be
> 0" could not say *where*. Here the document is composed into nodes (`yaml.compose`), and a
`Reader` walks the nodes along a schema of protobuf-like messages: it returns plain values
(dicts with canonical camelCase keys, lists, scalars), records the line of each field path
(`studySpec.parameters[1].doubleValueSpec.minValue` → 12), and collects *every* problem
instead of stopping at the first. Pure: no I/O, no knowledge of what the schema describes.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tui.services.errors import InvalidArgument

# -- schema ------------------------------------------------------------------------------------

ScalarKind = Literal["str", "int", "float", "bool", "duration"]


@dataclass(frozen=True)
class Scalar:
    kind: ScalarKind


@dataclass(frozen=True)
class Enum:
    values: tuple[str, ...]


@dataclass(frozen=True)
class Message:
    name: str  # a key of the schemas mapping given to the Reader


@dataclass(frozen=True)
class ListOf:
    item: FieldType


@dataclass(frozen=True)
class StringMap:
    """map<string, string> (labels)."""


@dataclass(frozen=True)
class Opaque:
    """Any YAML value, passed through as plain Python (parts cloudpane does not interpret)."""


FieldType = Scalar | Enum | Message | ListOf | StringMap | Opaque

STR = Scalar("str")
INT = Scalar("int")
FLOAT = Scalar("float")
BOOL = Scalar("bool")
DURATION = Scalar("duration")
OPAQUE = Opaque()


@dataclass(frozen=True)
class MessageSchema:
    fields: Mapping[str, FieldType]
    # fields a server returns but ignores on create (a `describe` output pasted back)
    output_only: frozenset[str] = frozenset()
    # wrong key -> what to write instead (keys of the *other* format, common slips)
    hints: Mapping[str, str] = field(default_factory=dict)


# -- problems ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    line: int
    path: str
    message: str


class YamlSyntaxError(Exception):
    """The text is not one well-formed YAML document; line and column are 1-based."""

    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column
        self.message = message


def compose(text: str) -> Node | None:
    """One YAML document as nodes (None for an empty document); YamlSyntaxError otherwise."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        context = exc.context or ""
        start = exc.context_mark
        if context and start is not None and start.line + 1 != line:
            # "while parsing a flow mapping" is only useful with where that mapping began
            context += f" (started on line {start.line + 1}, column {start.column + 1})"
        parts = [p for p in (context, exc.problem) if p]
        if "'\\t'" in (exc.problem or ""):
            parts.append("YAML indents with spaces, not tabs")
        raise YamlSyntaxError(line, column, ", ".join(parts) or "not valid YAML") from exc
    except yaml.YAMLError as exc:  # a reader error (e.g. a control character) has no mark
        raise YamlSyntaxError(1, 1, str(exc)) from exc


# -- helpers -----------------------------------------------------------------------------------


def snake_to_camel(name: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def nearest(word: str, candidates: list[str]) -> str | None:
    """The known name closest to `word` (same letters ignoring case and `_` first)."""
    squashed = word.replace("_", "").lower()
    for candidate in candidates:
        if candidate.replace("_", "").lower() == squashed:
            return candidate
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), lowered, n=1)]
    return close[0] if close else None


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


_INT_TEXT = re.compile(r"^[+-]?\d+$")
_DURATION_TEXT = re.compile(r"^\d+(\.\d{1,9})?s$")
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_BOOL = "tag:yaml.org,2002:bool"


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


# -- the reader --------------------------------------------------------------------------------


class Reader:
    """Walks nodes along a schema; collects values, lines and problems.

    `read` returns None for a value that is missing or wrong (its problem is recorded), so a
    caller checks `present(path)` before saying a required field is missing.
    """

    def __init__(self, schemas: Mapping[str, MessageSchema]) -> None:
        self.schemas = schemas
        self.lines: dict[str, int] = {}
        self.problems: list[Problem] = []
        self.snake_case_paths: list[str] = []
        self.ignored_paths: list[str] = []
        self._constructor = SafeConstructor()

    # public

    def problem(self, path: str, message: str, line: int | None = None) -> None:
        self.problems.append(
            Problem(line if line is not None else self.line_of(path), path, message)
        )

    def line_of(self, path: str) -> int:
        """The line of `path`, or of its nearest recorded ancestor (1 when none)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.lines.get("", 1)

    def present(self, path: str) -> bool:
        return path in self.lines

    def read(self, node: Node, ftype: FieldType, path: str) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, ScalarNode) and node.tag == _TAG_NULL:
            empty = "write {} for an empty one" if isinstance(ftype, Message) else "give one"
            self.problem(path, f"has no value; {empty} or remove the key")
            return None
        if isinstance(ftype, Message):
            return self._message(node, self.schemas[ftype.name], path)
        if isinstance(ftype, ListOf):
            return self._list(node, ftype.item, path)
        if isinstance(ftype, StringMap):
            return self._string_map(node, path)
        if isinstance(ftype, Opaque):
            return self._plain(node, path)
        if not isinstance(node, ScalarNode):
            self.problem(path, f"must be {_expected(ftype)} (got {_kind_of(node)})")
            return None
        if isinstance(ftype, Enum):
            return self._enum(node, ftype, path)
        return self._scalar(node, ftype.kind, path)

    # messages and collections

    def _message(self, node: Node, schema: MessageSchema, path: str) -> dict[str, Any] | None:
        if not isinstance(node, MappingNode):
            self.problem(path, f"must be a mapping of fields (got {_kind_of(node)})")
            return None
        out: dict[str, Any] = {}
        seen: dict[str, int] = {}
        explicit = {id(key_node) for key_node, _ in node.value}
        try:
            self._constructor.flatten_mapping(node)  # resolve `<<: *anchor` merge keys in place
        except ConstructorError as exc:
            self.problem(path, f"cannot be read: {exc.problem}")
            return None
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode) or key_node.tag == _TAG_NULL:
                self.problem(path, "has a key that is not a name", line)
                continue
            key = str(key_node.value)
            canonical = self._canonical(key, schema)
            if canonical is None:
                if key in schema.output_only or snake_to_camel(key) in schema.output_only:
                    self.ignored_paths.append(join(path, key))
                    continue
                self.problem(join(path, key), self._unknown_key_message(key, schema), line)
                continue
            child = join(path, canonical)
            if canonical in seen and id(key_node) in explicit and seen[canonical] > 0:
                self.problem(
                    child,
                    f"duplicate key (first on line {seen[canonical]}); YAML would keep only "
                    "the last one: remove one",
                    line,
                )
                continue
            # a key merged in from an anchor (`<<: *x`) may be overridden: mark it with -line
            seen[canonical] = line if id(key_node) in explicit else -line
            if canonical != key:
                self.snake_case_paths.append(child)
            self.lines[child] = line
            value = self.read(value_node, schema.fields[canonical], child)
            if value is not None:
                out[canonical] = value
        return out

    def _canonical(self, key: str, schema: MessageSchema) -> str | None:
        if key in schema.fields:
            return key
        camel = snake_to_camel(key)
        if "_" in key and camel in schema.fields:
            return camel
        return None

    def _unknown_key_message(self, key: str, schema: MessageSchema) -> str:
        known = sorted(schema.fields)
        hint = schema.hints.get(key) or schema.hints.get(snake_to_camel(key))
        if hint:
            return f"unknown key; {hint}"
        guess = nearest(key, known + sorted(schema.hints))
        if (
            guess is not None and guess in schema.hints
        ):  # a near miss of a key that belongs elsewhere
            return f"unknown key; did you mean {guess}? {schema.hints[guess]}"
        if guess:
            return f"unknown key; did you mean {guess}? (known: {', '.join(known)})"
        return f"unknown key (known: {', '.join(known)})"

    def _list(self, node: Node, item: FieldType, path: str) -> list[Any] | None:
        if not isinstance(node, SequenceNode):
            self.problem(path, f"must be a list (got {_kind_of(node)})")
            return None
        out = [self.read(child, item, f"{path}[{index}]") for index, child in enumerate(node.value)]
        # one bad item spoils the list: later checks (order, emptiness) would mislead
        return None if any(value is None for value in out) else out

    def _string_map(self, node: Node, path: str) -> dict[str, str] | None:
        if not isinstance(node, MappingNode):
            self.problem(path, f"must be a mapping of names to values (got {_kind_of(node)})")
            return None
        out = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, ScalarNode) else ""
            child = join(path, key)
            value = self.read(value_node, STR, child)
            if value is not None:
                out[key] = value
        return out

    def _plain(self, node: Node, path: str) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.problem(path, f"cannot be read: {exc.problem}")
            return None

    # scalars

    def _enum(self, node: ScalarNode, ftype: Enum, path: str) -> str | None:
        text = str(node.value)
        if text in ftype.values:
            return text
        if text.upper() in ftype.values:
            self.problem(path, f"must be written in capitals: {text.upper()} (got {text})")
            return None
        guess = nearest(text, list(ftype.values))
        maybe = f"did you mean {guess}? " if guess else ""
        self.problem(path, f"{maybe}must be one of {', '.join(ftype.values)} (got {text})")
        return None

    def _scalar(self, node: ScalarNode, kind: ScalarKind, path: str) -> Any:
        try:
            value = self._constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.problem(path, f"cannot be read: {exc.problem}")
            return None
        if kind == "str":
            if isinstance(value, bool):
                self.problem(
                    path,
                    f"must be a string; YAML reads {node.value} as a boolean: "
                    f"quote it ('{node.value}')",
                )
                return None
            if isinstance(value, int | float | str):
                # numbers written where text is expected keep their literal text ("0.10")
                return str(node.value) if not isinstance(value, str) else value
            self.problem(path, f"must be a string (got {_shown(node.value)})")
            return None
        if kind == "bool":
            if node.tag == _TAG_BOOL and isinstance(value, bool):
                return value
            self.problem(path, f"must be true or false (got {_shown(node.value)})")
            return None
        if kind == "duration":
            if isinstance(value, str) and _DURATION_TEXT.match(value):
                return value
            self.problem(path, f"must be a duration in seconds like '3600s' (got {_shown(value)})")
            return None
        if isinstance(value, bool):
            self.problem(path, f"must be a number (got {node.value}, a boolean)")
            return None
        if kind == "int":
            if isinstance(value, int):
                return value
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                return int(value)
            if isinstance(value, str) and _INT_TEXT.match(value.strip()):
                return int(value)
            self.problem(path, f"must be a whole number (got {_shown(value)})")
            return None
        # float: YAML 1.1 reads 1e-4 (no dot) as a string; proto JSON accepts numeric strings
        number: float | None = None
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
        if number is None:
            self.problem(path, f"must be a number (got {_shown(value)})")
            return None
        if not math.isfinite(number):
            self.problem(path, f"must be a finite number (got {_shown(node.value)})")
            return None
        return number


def _kind_of(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _TAG_NULL:
        return "nothing"
    return _shown(node.value)


def _expected(ftype: FieldType) -> str:
    if isinstance(ftype, Enum):
        return f"one of {', '.join(ftype.values)}"
    if isinstance(ftype, Scalar):
        return {
            "str": "a string",
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "duration": "a duration like '3600s'",
        }[ftype.kind]
    return "a value"


# --- problems: one located problem type for every YAML file cloudpane reads ------------------


@dataclass(frozen=True)
class YamlProblem:
    """One problem: `hptuning.yaml:12: studySpec.parameters[1].doubleValueSpec.minValue: …`."""

    file: str
    line: int | None
    field_path: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        return (
            f"{where}: {self.field_path}: {self.message}"
            if self.field_path
            else f"{where}: {self.message}"
        )


class YamlInvalid(InvalidArgument):
    """A file has problems (all of them in `errors`); nothing may be submitted."""

    title = "Invalid file"
    what = "file"  # what the file is, when no problem names it
    SHOWN = 20

    def __init__(self, errors: Iterable[YamlProblem]) -> None:
        self.errors = list(errors)
        name = self.errors[0].file if self.errors else self.what
        count = len(self.errors)
        lines = [str(e) for e in self.errors[: self.SHOWN]]
        if count > self.SHOWN:
            lines.append(f"… and {count - self.SHOWN} more")
        plural = "error" if count == 1 else "errors"
        super().__init__(
            f"{name} has {count} {plural}:\n" + "\n".join(lines),
            "Fix the file and load it again; nothing was submitted.",
        )

    def __str__(self) -> str:
        return f"{self.message}\n{self.hint}"
