"""Google's JSON error bodies, so the client libraries raise their usual exceptions.

Both shapes the clients parse: `{"error": {"code", "message", "status", "errors": [...]}}`.
google-api-core maps the HTTP status to its exception class (404 → NotFound, 409 → Conflict…).
"""

from __future__ import annotations

from starlette.responses import JSONResponse

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

REASONS = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}


class ApiError(Exception):
    """Raise inside a route handler; the server turns it into Google's error body."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or REASONS.get(code, "error")


def error_response(code: int, message: str, reason: str | None = None) -> JSONResponse:
    body = {
        "error": {
            "code": code,
            "message": message,
            "status": STATUS_NAMES.get(code, "UNKNOWN"),
            "errors": [
                {
                    "message": message,
                    "domain": "global",
                    "reason": reason or REASONS.get(code, "error"),
                }
            ],
        }
    }
    return JSONResponse(body, status_code=code)
