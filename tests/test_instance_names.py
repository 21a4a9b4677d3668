"""Instance-name validation (RFC 1035, as Compute Engine checks it) in plain words."""

from __future__ import annotations

import re

import pytest

from tui.services.compute import validate_instance_name

GOOGLE_RULE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")


@pytest.mark.parametrize(
    "name",
    ["a", "vm", "vm-1", "train-gpu-0001", "a1", "x" * 63, "a-b-c-d", "n1-standard-vm"],
)
def test_valid_names(name: str) -> None:
    assert validate_instance_name(name) is None
    assert GOOGLE_RULE.fullmatch(name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "required"),
        ("x" * 64, "at most 63 characters; this one has 64"),
        ("MyVM", "lowercase"),
        ("vm_1", "'_'"),
        ("vm 1", "a space"),
        ("vm.prod", "'.'"),
        ("vmé", "'é'"),
        ("1vm", "start with a lowercase letter"),
        ("-vm", "start with a lowercase letter"),
        ("vm-", "cannot end with a hyphen"),
    ],
)
def test_invalid_names_say_why(name: str, reason: str) -> None:
    message = validate_instance_name(name)
    assert message is not None and reason in message
    assert not GOOGLE_RULE.fullmatch(name)  # the table agrees with Google's own rule


def test_agrees_with_googles_rule_on_many_names() -> None:
    alphabet = "ab9-_A"
    names = [a + b + c for a in alphabet for b in alphabet for c in alphabet]
    for name in names:
        assert (validate_instance_name(name) is None) == bool(GOOGLE_RULE.fullmatch(name)), name
