"""One small exception family with a message a person can act on, and a hint.

Everything the services raise to the UI or the CLI is a CloudpaneError. `translate` turns
google-api-core / google-auth / network exceptions into one, so each screen handles errors in
one place and never shows a traceback.
"""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)


class CloudpaneError(Exception):
    """An error with a sentence for the user (`message`) and what to do about it (`hint`)."""

    title = "Error"

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class NoCredentials(CloudpaneError):
    title = "No credentials"


class NoProject(CloudpaneError):
    title = "No project"


class ApiNotEnabled(CloudpaneError):
    title = "API not enabled"


class PermissionDenied(CloudpaneError):
    title = "Permission denied"


class QuotaExceeded(CloudpaneError):
    title = "Quota exceeded"


class RateLimited(QuotaExceeded):
    """Too many requests a minute (Compute's 403 `rateLimitExceeded`, a 429): wait, not a role."""

    title = "Rate limited"


# Google answers some rate limits with 403, not 429: Compute Engine says "If your project exceeds
# a rate quota, you receive a 403 error with the reason rateLimitExceeded" (docs/gcp-facts.md).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


def is_rate_limit(exc: BaseException) -> bool:
    """A 403 whose `errors[].reason` (or ErrorInfo reason) says rate limit, not permission."""
    from google.api_core import exceptions as gexc

    if not isinstance(exc, gexc.Forbidden):
        return False
    reasons = {str(e.get("reason", "")) for e in (exc.errors or []) if isinstance(e, dict)}
    reasons.add(str(getattr(exc, "reason", None) or ""))
    return bool(reasons & RATE_LIMIT_REASONS)


RATE_LIMIT_HINT = (
    "Google is rate-limiting requests; cloudpane retries reads automatically. Wait a minute and "
    "try again (rate quotas refill every minute); other tools using the project share them."
)


class NotFound(CloudpaneError):
    title = "Not found"


class Conflict(CloudpaneError):
    title = "Conflict"


class PreconditionFailed(CloudpaneError):
    title = "Changed meanwhile"


class InvalidArgument(CloudpaneError):
    title = "Invalid input"


class Unavailable(CloudpaneError):
    title = "Unavailable"


class OperationFailed(CloudpaneError):
    """A long-running operation ended in an error; `code` is Google's (QUOTA_EXCEEDED, …)."""

    title = "Operation failed"

    def __init__(self, message: str, hint: str = "", code: str = "") -> None:
        super().__init__(message, hint)
        self.code = code


class ReadOnly(CloudpaneError):
    title = "Read-only mode"


class BadAnswer(Unavailable):
    """The API answered, but not with what it documents (garbled JSON, an HTML page)."""

    title = "Unexpected answer"


NO_CREDENTIALS_HINT = (
    "Run `gcloud auth application-default login`, or start with --sandbox to use the local sandbox."
)

# Secrets must never reach a screen or a log: strip anything that looks like a token.
_SECRET = re.compile(
    r"(ya29\.[\w\-\.]+|Bearer\s+[\w\-\.]+|access_token[\"'=:\s]+[\w\-\.]+|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----|"
    r"(?:X-Goog-Signature|Signature|sig)=[0-9a-fA-F%]{16,})"
)


def redact(text: str) -> str:
    return _SECRET.sub("[redacted]", text)


BAD_ANSWER_HINT = (
    "Something between cloudpane and the API (a proxy, a VPN, a captive portal) may have "
    "changed the answer. Try again; if it persists, check HTTPS_PROXY and your network."
)

_HTML = re.compile(r"<!doctype html|<html[\s>]", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _html_page(detail: str) -> str | None:
    """'an HTML page ("Error 502 (Server Error)!!1")' when `detail` holds a web page, else None.

    A proxy or load balancer in front of an API answers with a page, not the API's JSON;
    printing the page's markup helps nobody.
    """
    if not _HTML.search(detail):
        return None
    title = _TITLE.search(detail)
    text = " ".join(title.group(1).split())[:80] if title else ""
    return f'an HTML page ("{text}")' if text else "an HTML page"


class MalformedAnswer(ValueError):
    """An API answer that parsed as JSON but not in the shape the API documents (raised by
    cloudpane's own JSON readers, as the client libraries raise ParseError)."""


def _is_bad_json(exc: BaseException) -> bool:
    import json

    if isinstance(exc, json.JSONDecodeError | MalformedAnswer):  # requests' is a JSONDecodeError
        return True
    try:
        from google.protobuf.json_format import ParseError
    except ImportError:  # pragma: no cover - protobuf comes with google-api-core
        return False
    return isinstance(exc, ParseError)


def _raised_in_client_library(exc: BaseException) -> bool:
    """A TypeError/AttributeError/KeyError from inside google-cloud code: it met an answer of
    a shape it does not expect. (The same error from cloudpane's own code is a bug, and is
    reported as one, with its type.)"""
    if not isinstance(exc, TypeError | AttributeError | KeyError | IndexError):
        return False
    tb = exc.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", ""))
    return module.startswith("google.")


# google-api-core starts an HTTP error's message with the request ("POST http://…/o?…: ");
# the action prefix already says what was done, and the URL is noise to a person.
_REQUEST_LINE = re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE|HEAD) \S+: ")
# google-resumable-media wraps the JSON error body and its own tuple around the message:
# '{"error": {...}}: ('Request failed with status code', 400, 'Expected one of', ...)'.
_WRAPPED_BODY = re.compile(r"^(\{.*\})(?::\s*\('Request failed.*\))?$", re.DOTALL)


def _api_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    text = _REQUEST_LINE.sub("", str(message).strip())
    wrapped = _WRAPPED_BODY.match(text)
    if wrapped:
        import json

        try:
            error = json.loads(wrapped.group(1)).get("error", {})
            text = str(error.get("message") or text)
        except (ValueError, AttributeError):
            pass
    return redact(text).strip()


def translate(exc: BaseException, action: str = "") -> CloudpaneError:
    """Map any exception from a client library to a CloudpaneError.

    `action` says what was being done ("start instance vm-1"), so the message reads
    "Could not start instance vm-1: …".
    """
    if isinstance(exc, CloudpaneError):
        return exc
    prefix = f"Could not {action}: " if action else ""

    from google.api_core import exceptions as gexc

    try:
        from google.auth.exceptions import (
            DefaultCredentialsError,
            OAuthError,
            RefreshError,
            TransportError,
        )
    except ImportError:  # pragma: no cover - google-auth is a dependency
        DefaultCredentialsError = RefreshError = OAuthError = TransportError = ()  # type: ignore[assignment,misc]

    detail = _api_message(exc)
    if _is_bad_json(exc):
        return BadAnswer(
            f"{prefix}the API's answer is not the JSON it documents ({_first_line(detail)}).",
            BAD_ANSWER_HINT,
        )
    if _raised_in_client_library(exc):
        return BadAnswer(
            f"{prefix}the API's answer has an unexpected shape "
            f"({type(exc).__name__}: {_first_line(detail)}).",
            BAD_ANSWER_HINT,
        )
    page = _html_page(detail) if isinstance(exc, gexc.GoogleAPICallError) else None
    if page is not None:
        code = getattr(exc, "code", None)
        status = f"HTTP {int(code)}" if isinstance(code, int) else "an error"
        detail = f"{status} with {page} instead of the API's JSON"
        if isinstance(exc, gexc.ServerError):
            return BadAnswer(
                f"{prefix}a proxy or load balancer in front of the API answered {detail}.",
                "It is usually brief: cloudpane retries reads; try the action again shortly. "
                "If it persists, check HTTPS_PROXY and your network.",
            )
    if isinstance(exc, DefaultCredentialsError):
        return NoCredentials("No Google credentials found.", NO_CREDENTIALS_HINT)
    # OAuthError: a token endpoint's refusal (workforce and other external accounts raise it
    # instead of RefreshError). invalid_grant is Google's word for expired or revoked.
    if isinstance(exc, RefreshError | OAuthError):
        why = (
            "they have expired or were revoked"
            if "invalid_grant" in str(exc)
            else _first_line(detail)
        )
        return NoCredentials(
            f"{prefix}your credentials could not be refreshed ({why}).",
            "Run `gcloud auth application-default login` again.",
        )
    if is_rate_limit(exc):
        return RateLimited(f"{prefix}Google is rate-limiting requests ({detail}).", RATE_LIMIT_HINT)
    if isinstance(exc, gexc.PermissionDenied | gexc.Forbidden):
        low = detail.lower()
        if "has not been used" in low or "is disabled" in low or "service_disabled" in low:
            api = re.search(r"([a-z]+\.googleapis\.com)", detail)
            name = api.group(1) if api else "the API"
            return ApiNotEnabled(
                f"{prefix}{name} is not enabled for this project.",
                f"Enable it: gcloud services enable {name}",
            )
        return PermissionDenied(
            f"{prefix}permission denied ({detail}).",
            "Ask a project owner for a role that allows this, or use another project.",
        )
    if isinstance(exc, gexc.Unauthenticated | gexc.Unauthorized):
        return NoCredentials(f"{prefix}not authenticated ({detail}).", NO_CREDENTIALS_HINT)
    if isinstance(exc, gexc.TooManyRequests | gexc.ResourceExhausted):
        low = detail.lower()
        if "quota" in low and "rate" not in low:
            from tui.services.quotas import quota_hint

            return QuotaExceeded(f"{prefix}quota exceeded ({detail}).", quota_hint(detail))
        return QuotaExceeded(
            f"{prefix}the API is throttling requests ({detail}).",
            "cloudpane retries reads automatically; wait a few seconds and try again.",
        )
    if isinstance(exc, gexc.NotFound):
        if action.startswith(("create ", "submit ")):
            # A create refers to other resources (zone, machine type, image, bucket…).
            return NotFound(
                f"{prefix}something it refers to does not exist ({detail.rstrip('.')}).",
                "Check the names (zone, machine type, disk type, image, bucket) and try again.",
            )
        return NotFound(
            f"{prefix}not found ({detail.rstrip('.')}).",
            "It may have been deleted; refresh the list.",
        )
    if isinstance(exc, gexc.PreconditionFailed):
        return PreconditionFailed(
            f"{prefix}it changed meanwhile ({detail}).", "Refresh and try again."
        )
    if isinstance(exc, gexc.Conflict):
        return Conflict(
            f"{prefix}{detail.rstrip('.')}.",
            "Choose another name, or wait for the current operation.",
        )
    if isinstance(exc, gexc.BadRequest | gexc.InvalidArgument):
        return InvalidArgument(f"{prefix}{detail}", "Check the values and try again.")
    if isinstance(
        exc,
        gexc.ServiceUnavailable
        | gexc.InternalServerError
        | gexc.BadGateway
        | gexc.GatewayTimeout
        | gexc.DeadlineExceeded,
    ):
        return Unavailable(
            f"{prefix}the service is unavailable ({detail}).",
            "It is usually brief: cloudpane retries reads; try the action again shortly.",
        )
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause if exc.cause is not None else exc
        inner = translate(cause, action) if cause is not exc else None
        if inner is not None:
            inner.message = f"{inner.message.rstrip('.')} (gave up after retrying)."
            return inner
        return Unavailable(f"{prefix}gave up after retrying ({detail}).", "Try again shortly.")
    if isinstance(exc, gexc.GoogleAPICallError):
        return CloudpaneError(f"{prefix}{detail}", "Check the values and try again.")
    # google-auth's TransportError: the token refresh could not reach Google (offline).
    if isinstance(
        exc, ConnectionError | TimeoutError | OSError | TransportError
    ) or _is_requests_error(exc):
        return Unavailable(
            f"{prefix}{_network_problem(detail)}.",
            "Check your connection (or that the sandbox is running: cloudpane sandbox status).",
        )
    # Not the cloud, not the network: a bug. Its traceback goes to the log (see tui.applog).
    log.error("unexpected error (%s)", action or "no action", exc_info=exc)
    from tui.applog import log_path

    return CloudpaneError(
        f"{prefix}{type(exc).__name__}: {detail}",
        f"This is unexpected; the details are in {log_path()}. "
        "If it happens again, please report it with what you did.",
    )


_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")
_REASONS = (
    ("connection refused", "connection refused: nothing listens there"),
    ("timed out", "timed out"),
    ("name or service not known", "the name does not resolve"),
    ("nodename nor servname", "the name does not resolve"),
    ("temporary failure in name resolution", "the name does not resolve"),
    ("connection reset", "the connection was reset"),
    ("connection aborted", "the connection was dropped"),
    ("remote end closed", "the connection was dropped"),
    ("network is unreachable", "the network is unreachable"),
)


def _network_problem(detail: str) -> str:
    """'cannot reach 127.0.0.1:8080 (connection refused: …)' rather than urllib3's paragraph."""
    low = detail.lower()
    reason = next((said for key, said in _REASONS if key in low), "")
    where = _HOST_PORT.search(detail)
    if where and reason:
        return f"cannot reach {where.group(1)}:{where.group(2)} ({reason})"
    if reason:
        return f"network error ({reason})"
    return f"network error ({_first_line(detail)})"


def _first_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    line = line.rstrip(".")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _is_requests_error(exc: BaseException) -> bool:
    mod = type(exc).__module__
    return mod.startswith(("requests", "urllib3", "http.client"))
