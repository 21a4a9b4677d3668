"""What Google's front end checks before any handler runs: path segments, JSON bodies, types.

Google parses every request into a typed message before the service sees it: a path segment
that does not match its pattern, a body that is not JSON, nests too deep, carries a lone
surrogate or gives a field the wrong type is a 400, and nothing is stored. The sandbox does the
same here, once for every route, so a handler only ever sees values of the types it expects and
a path segment never carries `..`, `/` or NUL to the disk or to a process (docs/gcp-facts.md,
"Request validation", has the rules and their sources).

`guard_routes(routes)` wraps each route's app; the wrapper checks the path parameters by name,
the integer query parameters, and (for POST/PUT/PATCH on a JSON route) the body, then replays the
body to the handler. Storage's JSON API is one `{rest:path}` route, so its bodies are found by the
shape of the raw path (`STORAGE_BODIES`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tui.sandbox.errors import ApiError

# Google's proto parser stops at 100 levels of nesting (protobuf's default recursion limit).
MAX_DEPTH = 100

# --- path segments (patterns from the Compute and Storage discovery documents) -------------------

RFC1035 = r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?"
NAME_OR_ID = rf"{RFC1035}|[1-9][0-9]{{0,19}}"
# Project ids ([a-z][a-z0-9-]{4,28}[a-z0-9]), project numbers, and domain-scoped ids.
PROJECT = r"(?:(?:[-a-z0-9]{1,63}\.)*(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?):)?(?:[0-9]{1,19}|[a-z][a-z0-9-]{4,28}[a-z0-9])"
# Vertex job ids, billing service ids: plain tokens, never a path.
TOKEN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}"

PATH_PATTERNS: dict[str, str] = {
    "project": PROJECT,
    "zone": RFC1035,
    "region": RFC1035,
    "instance": NAME_OR_ID,
    "disk": NAME_OR_ID,
    "operation": NAME_OR_ID,
    "image": NAME_OR_ID,
    "network": NAME_OR_ID,
    "subnetwork": NAME_OR_ID,
    "family": RFC1035,
    "name": RFC1035,  # machine and accelerator types
    "verb": r"[a-zA-Z]{1,64}",
    "location": r"[a-z][a-z0-9-]{0,62}",  # us-central1, europe-west4, global
    "job_id": TOKEN,
    "service": TOKEN,
}
_COMPILED = {name: re.compile(pattern) for name, pattern in PATH_PATTERNS.items()}
# Storage: bucket names (1–222 characters with dots, 3–63 per part, checked fully on create).
BUCKET = re.compile(r"[a-z0-9_][a-z0-9._-]{1,221}[a-z0-9_]|[a-z0-9]")


def invalid_parameter(name: str, value: str, pattern: str) -> ApiError:
    """Google's answer for a path or query parameter that does not match its pattern."""
    shown = value if len(value) <= 200 else value[:200] + "…"
    return ApiError(
        400,
        f"Invalid value '{shown}'. Values must match the following regular expression: '{pattern}'",
        "invalidParameter",
    )


def check_path_params(params: dict[str, Any]) -> None:
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        rule = _COMPILED.get(name)
        if rule is not None:
            if not rule.fullmatch(value):
                raise invalid_parameter(name, value, PATH_PATTERNS[name])
        elif name != "rest" and not _safe_segment(value):
            raise invalid_parameter(name, value, r"[^/\x00]+ (not '.' or '..')")


def _safe_segment(value: str) -> bool:
    return (
        bool(value)
        and value not in (".", "..")
        and "/" not in value
        and "\x00" not in value
        and not _has_surrogate(value)
    )


def check_bucket_segment(raw_path: str, prefix: str) -> None:
    """`/storage/v1/b/BUCKET/…`: the bucket segment names a folder on disk, so check it."""
    parts = raw_path[len(prefix) :].strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "b":
        from urllib.parse import unquote

        bucket = unquote(parts[1], errors="strict")
        if not BUCKET.fullmatch(bucket):
            raise ApiError(400, f"Invalid bucket name: '{bucket[:200]}'", "invalid")


# --- integer query parameters ------------------------------------------------------------------

INT_QUERY = frozenset(
    {
        "maxResults",
        "pageSize",
        "generation",
        "ifGenerationMatch",
        "ifGenerationNotMatch",
        "ifMetagenerationMatch",
        "ifMetagenerationNotMatch",
        "ifSourceGenerationMatch",
        "ifSourceGenerationNotMatch",
        "ifSourceMetagenerationMatch",
        "ifSourceMetagenerationNotMatch",
        "sourceGeneration",
        "start",
        "port",
    }
)
_INT = re.compile(r"-?[0-9]{1,19}")


def check_query(query: Iterable[tuple[str, str]]) -> None:
    for name, value in query:
        if name in INT_QUERY and value != "" and not _INT.fullmatch(value):
            raise invalid_parameter(name, value, r"-?\d+")
        if _has_surrogate(value):
            raise ApiError(400, f"Invalid value for parameter '{name}': not valid UTF-8.")


# --- JSON bodies -------------------------------------------------------------------------------


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json_object(raw: bytes, what: str = "request body") -> dict[str, Any]:
    """The body as a JSON object, or Google's 400: strict UTF-8 and JSON (no NaN), at most
    MAX_DEPTH levels, no lone surrogates (they cannot be stored or sent back), an object."""
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, f"Invalid JSON payload received. The {what} is not UTF-8.", "parseError"
        ) from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ApiError(
            400, f"Invalid JSON payload received. The {what} nests too deep.", "parseError"
        ) from exc
    except ValueError as exc:  # JSONDecodeError, NaN, integers past Python's digit limit
        raise ApiError(400, f"Invalid JSON payload received. {exc}", "parseError") from exc
    _check_tree(data, what)
    if not isinstance(data, dict):
        raise ApiError(
            400,
            f"Invalid JSON payload received. The {what} must be a JSON object, "
            f"not {_json_kind(data)}.",
            "parseError",
        )
    return data


def _check_tree(data: Any, what: str) -> None:
    """Depth and lone surrogates, walked without recursion (the tree may be deep)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError(
                400,
                f"Invalid JSON payload received. The {what} nests deeper than {MAX_DEPTH} levels.",
                "parseError",
            )
        if isinstance(node, str):
            if _has_surrogate(node):
                raise ApiError(
                    400,
                    f"Invalid JSON payload received. The {what} holds a lone UTF-16 surrogate "
                    "(not valid Unicode).",
                    "parseError",
                )
        elif isinstance(node, dict):
            for key, value in node.items():
                stack.append((key, depth))
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)


def without_nulls(data: dict[str, Any]) -> dict[str, Any]:
    """The body as a proto parser reads it: object members that are null are left out."""

    def clean(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if v is not None}
        if isinstance(node, list):
            return [clean(v) for v in node]
        return node

    return clean(data)  # type: ignore[no-any-return]  # depth <= MAX_DEPTH, checked above


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# --- field types (the proto message each body is parsed into) -----------------------------------

Check = Callable[[Any, str], None]


def _bad(path: str, type_name: str, value: Any) -> ApiError:
    shown = json.dumps(value, ensure_ascii=False)
    shown = shown if len(shown) <= 100 else shown[:100] + "…"
    return ApiError(400, f"Invalid value at '{path}' ({type_name}), {shown}", "invalid")


def string(value: Any, path: str) -> None:
    if value is not None and not isinstance(value, str):
        raise _bad(path, "TYPE_STRING", value)


def enum(value: Any, path: str) -> None:
    """An enum: its name, or its number (what `$alt=json;enum-encoding=int` clients send)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (str, int))):
        raise _bad(path, "TYPE_ENUM", value)


def boolean(value: Any, path: str) -> None:
    if value is not None and not isinstance(value, bool):
        raise _bad(path, "TYPE_BOOL", value)


def integer(value: Any, path: str) -> None:
    """int32/int64: a JSON number without a fraction, or a decimal string (Google's JSON)."""
    if value is None:
        return
    if isinstance(value, bool) or not (
        (isinstance(value, int) and abs(value) < 2**63)
        or (isinstance(value, float) and value.is_integer() and abs(value) < 2**63)
        or (isinstance(value, str) and _INT.fullmatch(value.strip()))
    ):
        raise _bad(path, "TYPE_INT64", value)


def number(value: Any, path: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not (
        (isinstance(value, (int, float)) and math.isfinite(value))
        or (isinstance(value, str) and _is_float(value))
    ):
        raise _bad(path, "TYPE_DOUBLE", value)


def _is_float(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def any_object(value: Any, path: str) -> None:
    if value is not None and not isinstance(value, dict):
        raise _bad(path, "TYPE_MESSAGE", value)


def message(fields: dict[str, Check]) -> Check:
    """An object whose known fields have these types (unknown fields pass, as on Google)."""

    def check(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _bad(path, "TYPE_MESSAGE", value)
        for name, field_check in fields.items():
            if name in value:
                field_check(value[name], f"{path}.{name}")

    return check


def repeated(item: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise _bad(path, "TYPE_MESSAGE[]", value)
        for i, element in enumerate(value):
            if element is None:  # a list element cannot be "unset"
                raise _bad(f"{path}[{i}]", "TYPE_MESSAGE", element)
            item(element, f"{path}[{i}]")

    return check


def string_map(nullable_values: bool = False) -> Check:
    """map<string, string> (Storage's object metadata also takes null: "remove this key")."""

    def check(value: Any, path: str) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _bad(path, "map<string, string>", value)
        for key, item in value.items():
            if item is None and nullable_values:
                continue
            if not isinstance(item, str):
                raise _bad(f"{path}[{key}]", "TYPE_STRING", item)

    return check


# Google's label rules (Compute, Vertex AI, Resource Manager): at most 64 labels; keys start
# with a lowercase letter; keys and values use lowercase letters, digits, '_' and '-', at most 63.
LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
MAX_LABELS = 64


def labels(value: Any, path: str) -> None:
    string_map()(value, path)
    if not value:
        return
    if len(value) > MAX_LABELS:
        raise ApiError(
            400,
            f"Invalid value for field '{path}': {len(value)} labels. "
            f"A resource can have at most {MAX_LABELS} labels.",
            "invalid",
        )
    for key, item in value.items():
        if not LABEL_KEY.fullmatch(key) or not LABEL_VALUE.fullmatch(item):
            raise ApiError(
                400,
                f"Invalid value for field '{path}': '{key}={item}'. Label keys start with a "
                "lowercase letter; keys and values use lowercase letters, digits, '_' and '-', "
                "at most 63 characters.",
                "invalid",
            )


# --- the bodies of each API ---------------------------------------------------------------------

SCHEDULING = message(
    {
        "automaticRestart": boolean,
        "onHostMaintenance": enum,
        "preemptible": boolean,
        "provisioningModel": enum,
        "instanceTerminationAction": enum,
        "maxRunDuration": message({"seconds": integer, "nanos": integer}),
        "terminationTime": string,
    }
)
METADATA = message(
    {
        "fingerprint": string,
        "items": repeated(message({"key": string, "value": string})),
    }
)
INSTANCE = message(
    {
        "name": string,
        "description": string,
        "machineType": string,
        "labels": labels,
        "metadata": METADATA,
        "scheduling": SCHEDULING,
        "disks": repeated(
            message(
                {
                    "boot": boolean,
                    "autoDelete": boolean,
                    "type": enum,
                    "mode": enum,
                    "initializeParams": message(
                        {"sourceImage": string, "diskSizeGb": integer, "diskType": string}
                    ),
                }
            )
        ),
        "networkInterfaces": repeated(
            message(
                {
                    "network": string,
                    "subnetwork": string,
                    "accessConfigs": repeated(message({"type": enum, "name": string})),
                }
            )
        ),
        "guestAccelerators": repeated(
            message({"acceleratorType": string, "acceleratorCount": integer})
        ),
        "serviceAccounts": repeated(message({"email": string, "scopes": repeated(string)})),
        "tags": message({"items": repeated(string)}),
    }
)
COMPUTE_ACTIONS: dict[str, Check] = {
    "setLabels": message({"labels": labels, "labelFingerprint": string}),
    "setMachineType": message({"machineType": string}),
    "setScheduling": SCHEDULING,
    "setMetadata": METADATA,
}

JOB_SPEC = message(
    {
        "workerPoolSpecs": repeated(
            message(
                {
                    "machineSpec": message(
                        {
                            "machineType": string,
                            "acceleratorType": enum,
                            "acceleratorCount": integer,
                        }
                    ),
                    "replicaCount": integer,
                    "diskSpec": message({"bootDiskType": string, "bootDiskSizeGb": integer}),
                    "pythonPackageSpec": message(
                        {
                            "executorImageUri": string,
                            "packageUris": repeated(string),
                            "pythonModule": string,
                            "args": repeated(string),
                            "env": repeated(message({"name": string, "value": string})),
                        }
                    ),
                    "containerSpec": message(
                        {
                            "imageUri": string,
                            "command": repeated(string),
                            "args": repeated(string),
                            "env": repeated(message({"name": string, "value": string})),
                        }
                    ),
                }
            )
        ),
        "baseOutputDirectory": message({"outputUriPrefix": string}),
        "scheduling": message(
            {"timeout": string, "strategy": enum, "restartJobOnWorkerRestart": boolean}
        ),
        "serviceAccount": string,
        "network": string,
        "enableWebAccess": boolean,
    }
)
CUSTOM_JOB = message(
    {
        "displayName": string,
        "labels": labels,
        "jobSpec": JOB_SPEC,
        "encryptionSpec": message({"kmsKeyName": string}),
    }
)
TUNING_JOB = message(
    {
        "displayName": string,
        "labels": labels,
        "maxTrialCount": integer,
        "parallelTrialCount": integer,
        "maxFailedTrialCount": integer,
        "trialJobSpec": JOB_SPEC,
        "encryptionSpec": message({"kmsKeyName": string}),
        "studySpec": message(
            {
                "algorithm": enum,
                "measurementSelectionType": enum,
                "metrics": repeated(message({"metricId": string, "goal": enum})),
                "parameters": repeated(
                    message(
                        {
                            "parameterId": string,
                            "scaleType": enum,
                            "doubleValueSpec": message({"minValue": number, "maxValue": number}),
                            "integerValueSpec": message({"minValue": integer, "maxValue": integer}),
                            "categoricalValueSpec": message({"values": repeated(string)}),
                            "discreteValueSpec": message({"values": repeated(number)}),
                        }
                    )
                ),
            }
        ),
    }
)

MONITORED_RESOURCE = message({"type": string, "labels": string_map()})
LOG_ENTRY = message(
    {
        "logName": string,
        "resource": MONITORED_RESOURCE,
        "labels": string_map(),
        "severity": enum,
        "textPayload": string,
        "jsonPayload": any_object,
        "timestamp": string,
        "receiveTimestamp": string,
        "insertId": string,
        "trace": string,
    }
)
WRITE_ENTRIES = message(
    {
        "logName": string,
        "resource": MONITORED_RESOURCE,
        "labels": string_map(),
        "entries": repeated(LOG_ENTRY),
    }
)
LIST_ENTRIES = message(
    {
        "resourceNames": repeated(string),
        "projectIds": repeated(string),
        "filter": string,
        "orderBy": string,
        "pageSize": integer,
        "pageToken": string,
    }
)

ACL_ENTRY = message({"entity": string, "role": string})
OBJECT = message(
    {
        "name": string,
        "bucket": string,
        "contentType": string,
        "contentEncoding": string,
        "contentDisposition": string,
        "contentLanguage": string,
        "cacheControl": string,
        "storageClass": string,
        "customTime": string,
        "md5Hash": string,
        "crc32c": string,
        "temporaryHold": boolean,
        "eventBasedHold": boolean,
        "metadata": string_map(nullable_values=True),
        "acl": repeated(ACL_ENTRY),
    }
)
BUCKET_BODY = message(
    {
        "name": string,
        "location": string,
        "locationType": string,
        "storageClass": string,
        "labels": string_map(nullable_values=True),
        "versioning": message({"enabled": boolean}),
        "iamConfiguration": message(
            {
                "uniformBucketLevelAccess": message({"enabled": boolean}),
                "bucketPolicyOnly": message({"enabled": boolean}),
                "publicAccessPrevention": enum,
            }
        ),
        "lifecycle": message(
            {
                "rule": repeated(
                    message({"action": message({"type": string, "storageClass": string})})
                )
            }
        ),
        "softDeletePolicy": message({"retentionDurationSeconds": integer}),
        "retentionPolicy": message({"retentionPeriod": integer}),
        "cors": repeated(any_object),
        "acl": repeated(ACL_ENTRY),
        "defaultObjectAcl": repeated(ACL_ENTRY),
        "website": message({"mainPageSuffix": string, "notFoundPage": string}),
        "logging": message({"logBucket": string, "logObjectPrefix": string}),
    }
)
POLICY = message(
    {
        "version": integer,
        "etag": string,
        "bindings": repeated(
            message({"role": string, "members": repeated(string), "condition": any_object})
        ),
    }
)
COMPOSE = message(
    {
        "destination": OBJECT,
        "sourceObjects": repeated(
            message(
                {
                    "name": string,
                    "generation": integer,
                    "objectPreconditions": message({"ifGenerationMatch": integer}),
                }
            )
        ),
    }
)

_SEG = r"[^/]+"
# (methods, raw path after /storage/v1/, body type): the storage JSON API's bodies.
STORAGE_BODIES: list[tuple[frozenset[str], re.Pattern[str], Check]] = [
    (frozenset({"POST"}), re.compile(r"b"), BUCKET_BODY),
    (frozenset({"PATCH", "PUT"}), re.compile(rf"b/{_SEG}"), BUCKET_BODY),
    (frozenset({"PATCH", "PUT"}), re.compile(rf"b/{_SEG}/o/{_SEG}"), OBJECT),
    (frozenset({"PUT"}), re.compile(rf"b/{_SEG}/iam"), POLICY),
    (frozenset({"POST"}), re.compile(rf"b/{_SEG}/o/{_SEG}/compose"), COMPOSE),
    (
        frozenset({"POST"}),
        re.compile(rf"b/{_SEG}/o/{_SEG}/(copyTo|rewriteTo)/b/{_SEG}/o/{_SEG}"),
        OBJECT,
    ),
    (
        frozenset({"POST", "PATCH", "PUT"}),
        re.compile(rf"b/{_SEG}(/o/{_SEG})?/(acl|defaultObjectAcl)(/{_SEG})?"),
        ACL_ENTRY,
    ),
]


def check_object_metadata(metadata: dict[str, Any]) -> None:
    """An upload's object resource (multipart part or resumable start): Storage's types."""
    OBJECT(metadata, "object")


def _body_check(method: str, route_path: str, raw_path: str) -> tuple[bool, Check | None]:
    """(is this a JSON body?, its type) for one request."""
    if route_path.startswith("/storage/v1/"):
        rest = raw_path.removeprefix("/storage/v1/").strip("/")
        for methods, pattern, check in STORAGE_BODIES:
            if method in methods and pattern.fullmatch(rest):
                return True, check
        return True, None
    if route_path.startswith(("/upload/", "/download/", "/resumable/", "/batch/")):
        # Media bytes (and multipart metadata): storage_io reads them and checks the metadata
        # with parse_json_object/check_object_metadata itself.
        return False, None
    if route_path.startswith("/compute/v1/"):
        if route_path.endswith("/instances"):
            return True, INSTANCE
        return True, None
    if route_path.endswith("/customJobs"):
        return True, CUSTOM_JOB
    if route_path.endswith("/hyperparameterTuningJobs"):
        return True, TUNING_JOB
    if route_path == "/v2/entries:write":
        return True, WRITE_ENTRIES
    if route_path == "/v2/entries:list":
        return True, LIST_ENTRIES
    return True, None


class _Guard:
    """The checks for one route, in front of its app."""

    def __init__(self, route_path: str, app: ASGIApp) -> None:
        self.route_path = route_path
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from starlette.datastructures import QueryParams

        from tui.sandbox.errors import error_response

        method = scope["method"]
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        body = b""
        try:
            check_path_params(scope.get("path_params") or {})
            if self.route_path.startswith(("/storage/v1/", "/upload/storage/v1/")):
                prefix = (
                    "/storage/v1"
                    if self.route_path.startswith("/storage")
                    else "/upload/storage/v1"
                )
                check_bucket_segment(raw_path, prefix)
            check_query(QueryParams(scope.get("query_string", b"").decode("latin-1")).multi_items())
            if method in ("POST", "PUT", "PATCH"):
                is_json, check = _body_check(method, self.route_path, raw_path)
                if is_json:
                    body = await _read_body(receive)
                    data = parse_json_object(body)
                    if check is None and self.route_path.startswith("/compute/v1/"):
                        check = COMPUTE_ACTIONS.get(str(scope["path_params"].get("verb", "")))
                    if check is not None:
                        check(data, _message_name(self.route_path))
                    if not self.route_path.startswith("/storage/"):
                        # Google's proto APIs read `null` as "not set"; the handlers see it so.
                        # (Storage's JSON API gives null a meaning: "clear this" in a PATCH.)
                        body = json.dumps(without_nulls(data)).encode()
                    receive = _replay(body, receive)
        except ApiError as exc:
            response = error_response(exc.code, exc.message, exc.reason)
            await response(scope, receive, send)
            return
        except UnicodeDecodeError:
            response = error_response(400, "Invalid value: the path is not valid UTF-8.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _message_name(route_path: str) -> str:
    for suffix, name in (
        ("/instances", "instance"),
        ("/customJobs", "custom_job"),
        ("/hyperparameterTuningJobs", "hyperparameter_tuning_job"),
        ("/v2/entries:write", "entries"),
        ("/v2/entries:list", "request"),
    ):
        if route_path.endswith(suffix):
            return name
    return "resource"


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message_: Message = await receive()
        if message_["type"] == "http.disconnect":
            break
        chunks.append(message_.get("body", b""))
        if not message_.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body once more, then the connection's own messages (a disconnect, later)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def guard_routes(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Put the checks in front of every plain route (in place; returns the same list)."""
    for route in routes:
        if isinstance(route, Route):
            route.app = _Guard(route.path, route.app)
    return routes
