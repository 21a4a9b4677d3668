"""One small exception family with a message a person can act on, and a hint.

Everything the services raise to the UI or the CLI is a CloudpaneError. `translate` turns
google-api-core / google-auth / network exceptions into one, so each screen handles errors in
one place and never shows a traceback.
"""

from __future__ import annotations

import re


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
    title = "Operation failed"


class ReadOnly(CloudpaneError):
    title = "Read-only mode"


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


def _api_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return redact(str(message)).strip()


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
        from google.auth.exceptions import DefaultCredentialsError, RefreshError
    except ImportError:  # pragma: no cover - google-auth is a dependency
        DefaultCredentialsError = RefreshError = ()  # type: ignore[assignment,misc]

    detail = _api_message(exc)
    if isinstance(exc, DefaultCredentialsError):
        return NoCredentials("No Google credentials found.", NO_CREDENTIALS_HINT)
    if isinstance(exc, RefreshError):
        return NoCredentials(
            f"{prefix}your credentials could not be refreshed ({detail}).",
            "Run `gcloud auth application-default login` again.",
        )
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
            return QuotaExceeded(
                f"{prefix}quota exceeded ({detail}).",
                "Pick a smaller shape or another region, or request more quota in the Console.",
            )
        return QuotaExceeded(
            f"{prefix}the API is throttling requests ({detail}).",
            "cloudpane retries reads automatically; wait a few seconds and try again.",
        )
    if isinstance(exc, gexc.NotFound):
        return NotFound(
            f"{prefix}not found ({detail}).", "It may have been deleted; refresh the list."
        )
    if isinstance(exc, gexc.PreconditionFailed):
        return PreconditionFailed(
            f"{prefix}it changed meanwhile ({detail}).", "Refresh and try again."
        )
    if isinstance(exc, gexc.Conflict):
        return Conflict(
            f"{prefix}{detail}.", "Choose another name, or wait for the current operation."
        )
    if isinstance(exc, gexc.BadRequest | gexc.InvalidArgument):
        return InvalidArgument(f"{prefix}{detail}", "Check the values and try again.")
    if isinstance(
        exc,
        gexc.ServiceUnavailable
        | gexc.InternalServerError
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
            inner.message = f"{inner.message} (gave up after retrying)"
            return inner
        return Unavailable(f"{prefix}gave up after retrying ({detail}).", "Try again shortly.")
    if isinstance(exc, gexc.GoogleAPICallError):
        return CloudpaneError(f"{prefix}{detail}")
    if isinstance(exc, ConnectionError | TimeoutError | OSError) or _is_requests_error(exc):
        return Unavailable(
            f"{prefix}network error ({detail}).",
            "Check your connection (or that the sandbox is running: cloudpane sandbox status).",
        )
    return CloudpaneError(f"{prefix}{type(exc).__name__}: {detail}")


def _is_requests_error(exc: BaseException) -> bool:
    mod = type(exc).__module__
    return mod.startswith(("requests", "urllib3", "http.client"))
