"""Errors from the client libraries become one actionable sentence and a hint."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError

from tui.services import errors


@pytest.mark.parametrize(
    ("exc", "kind", "words"),
    [
        (DefaultCredentialsError("nope"), errors.NoCredentials, "gcloud auth application-default"),
        (
            gexc.Forbidden(
                "Compute Engine API has not been used in project 1 before or it is "
                "disabled. Enable it by visiting compute.googleapis.com"
            ),
            errors.ApiNotEnabled,
            "gcloud services enable compute.googleapis.com",
        ),
        (
            gexc.Forbidden("Required 'compute.instances.stop' permission"),
            errors.PermissionDenied,
            "Ask a project owner",
        ),
        (
            gexc.TooManyRequests("Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally."),
            errors.QuotaExceeded,
            "request more quota",
        ),
        (gexc.TooManyRequests("Rate limit exceeded"), errors.QuotaExceeded, "retries reads"),
        (gexc.NotFound("The resource 'vm-1' was not found"), errors.NotFound, "refresh"),
        (gexc.Conflict("The resource 'vm-1' already exists"), errors.Conflict, "another name"),
        (
            gexc.BadRequest("Invalid value for field 'resource.name'"),
            errors.InvalidArgument,
            "Check the values",
        ),
        (gexc.ServiceUnavailable("try later"), errors.Unavailable, "try the action again"),
        (ConnectionRefusedError("refused"), errors.Unavailable, "cloudpane sandbox status"),
    ],
)
def test_translate(exc: Exception, kind: type, words: str) -> None:
    error = errors.translate(exc, "stop instance vm-1")
    assert isinstance(error, kind)
    assert words in f"{error.message} {error.hint}"
    if kind not in (errors.NoCredentials,):
        assert error.message.startswith("Could not stop instance vm-1")


def test_retry_error_keeps_the_cause() -> None:
    error = errors.translate(gexc.RetryError("deadline", gexc.ServiceUnavailable("down")), "list")
    assert isinstance(error, errors.Unavailable)
    assert "gave up after retrying" in error.message


def test_secrets_never_reach_a_message() -> None:
    token = "ya29.a0AfH6SMBsecretsecretsecret"
    error = errors.translate(gexc.Unauthorized(f"bad token {token} Bearer abc.def"), "list")
    text = f"{error.message} {error.hint}"
    assert token not in text
    assert "abc.def" not in text
    assert "[redacted]" in text


def test_cloudpane_errors_pass_through() -> None:
    original = errors.NotFound("gone", "hint")
    assert errors.translate(original) is original


def test_network_errors_say_where_and_why() -> None:
    import requests

    try:
        requests.get("http://127.0.0.1:9/x", timeout=2)  # port 9 (discard): nothing listens
    except requests.ConnectionError as exc:
        error = errors.translate(exc, "list instances")
    assert isinstance(error, errors.Unavailable)
    assert error.message == (
        "Could not list instances: cannot reach 127.0.0.1:9 (connection refused: nothing "
        "listens there)."
    )
    assert "sandbox status" in error.hint
    reset = errors.translate(ConnectionResetError(104, "Connection reset by peer"), "upload a")
    assert reset.message == "Could not upload a: network error (the connection was reset)."
