"""Partial responses (the `fields` system parameter): the sandbox honours them as Google does,
and the instance listing asks only for what it reads — without losing anything it shows."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.conftest import as_owner
from tui.sandbox import daemon
from tui.sandbox.partial_response import FieldMaskError, apply_mask, parse_mask
from tui.services.clients import Backend
from tui.services.compute import INSTANCE_LIST_FIELDS, ComputeService

DOC = {
    "kind": "compute#list",
    "nextPageToken": "t",
    "items": {
        "zones/a": {
            "instances": [{"name": "x", "id": "1", "disks": [{"source": "s", "index": 0}]}]
        },
        "zones/b": {"warning": {"code": "NO_RESULTS_ON_PAGE"}},
    },
}


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        ("kind", {"kind": "compute#list"}),
        ("kind,nextPageToken", {"kind": "compute#list", "nextPageToken": "t"}),
        (
            "items/*/instances(name,disks(source))",
            {
                "items": {
                    "zones/a": {"instances": [{"name": "x", "disks": [{"source": "s"}]}]},
                    "zones/b": {},
                }
            },
        ),
        (
            "items.*.instances.id",
            {"items": {"zones/a": {"instances": [{"id": "1"}]}, "zones/b": {}}},
        ),
        (
            "nextPageToken,items/*/warning",
            {
                "nextPageToken": "t",
                "items": {"zones/a": {}, "zones/b": {"warning": {"code": "NO_RESULTS_ON_PAGE"}}},
            },
        ),
        ("*", DOC),
        ("kind,kind/x", {"kind": "compute#list"}),  # the whole value wins over a part
    ],
)
def test_masks_select_like_google(mask: str, expected: dict[str, Any]) -> None:
    assert apply_mask(DOC, parse_mask(mask)) == expected


@pytest.mark.parametrize("mask", ["items(name", "a,,b", "a)", "(a)"])
def test_malformed_masks_are_refused(mask: str) -> None:
    with pytest.raises(FieldMaskError):
        parse_mask(mask)


def _get(
    info: daemon.SandboxInfo, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    request = as_owner(info, urllib.request.Request(url, headers=headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_sandbox_applies_fields_and_the_header(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    base = f"{sandbox_info.url}/storage/v1/b?project={sandbox_info.project}"
    urllib.request.urlopen(
        as_owner(
            sandbox_info,
            urllib.request.Request(
                base,
                data=json.dumps({"name": "masked"}).encode(),
                headers={"Content-Type": "application/json"},
            ),
        ),
        timeout=10,
    ).read()
    status, whole = _get(sandbox_info, base)
    assert status == 200 and "location" in whole["items"][0]
    assert _get(sandbox_info, base + "&fields=items(name)") == (
        200,
        {"items": [{"name": "masked"}]},
    )
    assert _get(sandbox_info, base, {"X-Goog-FieldMask": "items/name"}) == (
        200,
        {"items": [{"name": "masked"}]},
    )
    status, error = _get(sandbox_info, base + "&fields=items(name")
    assert status == 400 and "missing ')'" in error["error"]["message"]


async def test_masked_listing_loses_nothing_the_pane_shows(
    clean_sandbox: Backend, sandbox_info: daemon.SandboxInfo
) -> None:
    daemon.admin(sandbox_info, "seed", {"instances": 60, "zones": 4})
    masked = ComputeService(clean_sandbox)
    whole = ComputeService(clean_sandbox)
    whole._list_mask = ""
    assert await masked.list_instances() == await whole.list_instances()
    # And the mask really trims the answer (half the bytes or better).
    url = f"{sandbox_info.url}/compute/v1/projects/{sandbox_info.project}/aggregated/instances"

    full = urllib.request.urlopen(as_owner(sandbox_info, url), timeout=10).read()
    trimmed = urllib.request.urlopen(
        as_owner(
            sandbox_info,
            urllib.request.Request(url, headers={"X-Goog-FieldMask": INSTANCE_LIST_FIELDS}),
        ),
        timeout=10,
    ).read()
    assert len(trimmed) < 0.6 * len(full)
