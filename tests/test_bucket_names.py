"""Cloud Storage's bucket naming rules, with the reason shown when a name is refused."""

from __future__ import annotations

import pytest

from tui.services.storage import validate_bucket_name


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "my-bucket",
        "my_bucket_2",
        "a" * 63,
        "0starts-with-digit",
        "example.com",
        "data.v2.example.com",
        ".".join(["a" * 63] * 3) + ".abc",  # 196 chars, dotted
        "1.2.3",  # not a full IP address
    ],
)
def test_valid(name: str) -> None:
    assert validate_bucket_name(name) is None


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "required"),
        ("ab", "at least 3"),
        ("a" * 64, "at most 63"),
        ("MyBucket", "lowercase"),
        ("my bucket", "only contain"),
        ("my/bucket", "only contain"),
        ("émoji", "only contain"),
        ("-start", "start and end"),
        ("end-", "start and end"),
        ("_under", "start and end"),
        ("end.", "start and end"),
        ("192.168.5.4", "IP address"),
        ("goog-data", '"goog"'),
        ("googlestuff", '"goog"'),
        ("my-google-bucket", "google"),
        ("my-g00gle-data", "google"),
        ("a..b", "empty"),
        ("x" * 64 + ".com", "63 characters"),
        (".".join(["a" * 60] * 4), "222"),
    ],
)
def test_invalid_with_reason(name: str, reason: str) -> None:
    problem = validate_bucket_name(name)
    assert problem is not None and reason in problem
