"""The sandbox's copy of Vertex AI's prebuilt training containers and their end of availability.

The sandbox's own rules, written from Google's "Supported frameworks" list (docs/gcp-facts.md,
"Vertex AI training"), not imported from the client side. After an image's end of availability
"the images will no longer be usable"; the sandbox then refuses a job naming it with 400
INVALID_ARGUMENT (what Vertex answers exactly is not documented; docs/sandbox.md says so). An
image the list does not know (a custom container, or one newer than this list) is accepted.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

# image (without the registry's region) -> end of availability
END_OF_AVAILABILITY: dict[str, date] = {
    "vertex-ai/training/tf-gpu.2-17.py310": date(2026, 7, 11),
    "vertex-ai/training/tf-cpu.2-17.py310": date(2026, 7, 11),
    "vertex-ai/training/tf-gpu.2-14.py310": date(2025, 9, 26),
    "vertex-ai/training/tf-cpu.2-14.py310": date(2025, 9, 26),
    "vertex-ai/training/tf-gpu.2-13.py310": date(2025, 7, 5),
    "vertex-ai/training/tf-cpu.2-13.py310": date(2025, 7, 5),
}

REGISTRIES = ("us-docker.pkg.dev/", "europe-docker.pkg.dev/", "asia-docker.pkg.dev/")


def ended_on(uri: str, today: date | None = None) -> date | None:
    """The end of availability of a prebuilt image that has reached it, else None."""
    name = uri.split("@", 1)[0]
    for registry in REGISTRIES:
        if name.startswith(registry):
            name = name[len(registry) :]
            break
    else:
        return None
    name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    end = END_OF_AVAILABILITY.get(name)
    now = today or datetime.now(timezone.utc).date()
    return end if end is not None and now >= end else None
