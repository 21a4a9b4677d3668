"""Is the data close to the machines? The staging bucket and gs:// arguments against the region.

The lecture: data is "best close to the location of machines and users". Vertex AI wants the
staging bucket in the job's region (docs/gcp-facts.md: "use a Cloud Storage bucket in the same
region as your training job"), and reading a bucket in another location costs inter-region
egress per GB and adds latency to every read. `notes()` is pure; `bucket_locations()` asks
Cloud Storage through the one storage client.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from tui.services.clients import Backend, call

_GS = re.compile(r"gs://([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])")
# Multi-regions and the regions they span (Cloud Storage's bucket locations page).
MULTI_REGIONS = {"US": "us-", "EU": "europe-", "ASIA": "asia-"}


def buckets_in(texts: Iterable[str]) -> list[str]:
    """Bucket names of every gs:// URI in `texts`, in order, once each."""
    seen: list[str] = []
    for text in texts:
        for name in _GS.findall(text):
            if name not in seen:
                seen.append(name)
    return seen


def is_near(location: str, region: str) -> bool:
    """Does a bucket in `location` (US, EU, US-CENTRAL1, NAM4, …) sit in or around `region`?"""
    loc = location.upper()
    if loc == region.upper():
        return True
    prefix = MULTI_REGIONS.get(loc)
    return prefix is not None and region.lower().startswith(prefix)


def notes(region: str, staging: str | None, locations: Mapping[str, str]) -> list[str]:
    """One warning per bucket that lives away from the job's region."""
    out = []
    for bucket, location in locations.items():
        if not location or is_near(location, region):
            continue
        if bucket == staging:
            out.append(
                f"The staging bucket gs://{bucket} is in {location}, the job runs in {region}: "
                f"Vertex AI expects the staging bucket in the job's region; use a bucket in "
                f"{region}."
            )
        else:
            out.append(
                f"gs://{bucket} is in {location}, the job runs in {region}: every read crosses "
                "regions (egress charged per GB, slower reads); copy the data to a bucket in "
                f"{region}."
            )
    return out


async def bucket_locations(backend: Backend, names: Iterable[str]) -> dict[str, str]:
    """name → location for the buckets that can be read (unknown ones are left out)."""
    from tui.services.storage import StorageService

    wanted = list(names)

    def fetch() -> dict[str, str]:
        client = StorageService(backend).client()
        found = {}
        for name in wanted:
            try:
                bucket = client.lookup_bucket(name)
            except Exception:  # no access to someone else's bucket: nothing to say
                continue
            if bucket is not None and bucket.location:
                found[name] = str(bucket.location)
        return found

    return await call(fetch, action="read bucket locations")
