"""Boot image facts for the create form: what a family carries and what a GPU VM needs from it.

Pure (no I/O). The families themselves come from Compute Engine (`ComputeService.list_images`);
this module only reads what Google's names and descriptions say — framework, CUDA, NVIDIA driver
— and applies the Deep Learning VM rules of docs/gcp-facts.md.
"""

from __future__ import annotations

import re

from tui.services.models import Image

# The public image projects the create form lists (gcloud `compute images list` shows these and
# more). Deep Learning VM images live in deeplearning-platform-release.
IMAGE_PROJECTS: tuple[str, ...] = (
    "debian-cloud",
    "ubuntu-os-cloud",
    "deeplearning-platform-release",
)

# Families the form puts first when Google serves them; one missing is said on screen (it was
# retired), never dropped silently. Everything else Google lists follows.
FEATURED_FAMILIES: tuple[tuple[str, str], ...] = (
    ("debian-cloud", "debian-12"),
    ("ubuntu-os-cloud", "ubuntu-2204-lts"),
    ("deeplearning-platform-release", "common-cu128-ubuntu-2204-nvidia-570"),
    ("deeplearning-platform-release", "pytorch-2-7-cu128-ubuntu-2204-nvidia-570"),
)

_FRAMEWORK = re.compile(r"^(pytorch|tf|tf2)-(\d+)-(\d+)")
_CUDA = re.compile(r"-cu(\d\d)(\d)")
_DRIVER = re.compile(r"-nvidia-(\d+)")


def framework(image: Image) -> str:
    """'PyTorch 2.7', 'TensorFlow 2.18', 'base' (common-*), or '' for a plain OS image."""
    if not image.deep_learning:
        return ""
    match = _FRAMEWORK.match(image.family)
    if match:
        name = "PyTorch" if match.group(1) == "pytorch" else "TensorFlow"
        return f"{name} {match.group(2)}.{match.group(3)}"
    return "base" if image.family.startswith("common-") else ""


def cuda(image: Image) -> str:
    """'12.8' from a family like common-cu128-…; '' when the name names no CUDA."""
    match = _CUDA.search(image.family)
    return f"{match.group(1)}.{match.group(2)}" if match else ""


def bundled_driver(image: Image) -> str:
    """The NVIDIA driver branch a family names (`…-nvidia-570` → '570'); '' if none."""
    match = _DRIVER.search(image.family)
    return match.group(1) if match else ""


def needs_driver_metadata(image: Image, gpu: bool) -> bool:
    """Whether a VM from this image gets `install-nvidia-driver=True`.

    Google's DLVM command-line guide creates every GPU VM from a Deep Learning image with it; older
    images install the driver at first boot only when it is set, and images with the driver
    bundled (`-nvidia-570`) ignore it. So: every DL image on a GPU VM.
    """
    return gpu and image.deep_learning


def state_text(image: Image) -> str:
    """'' for a current image; 'DEPRECATED since 2025-07-14' and the like otherwise."""
    if not image.deprecation:
        return ""
    since = f" since {image.deprecated_on[:10]}" if image.deprecated_on else ""
    return f"{image.deprecation}{since}"


def label(image: Image) -> str:
    """One line for the form's image list: family, framework, CUDA/driver, state, project."""
    parts = [image.family]
    facts = [f for f in (framework(image), f"CUDA {cuda(image)}" if cuda(image) else "") if f]
    driver = bundled_driver(image)
    if driver:
        facts.append(f"driver {driver}")
    elif image.deep_learning and cuda(image):
        facts.append("driver installed at first boot")
    if facts:
        parts.append("· " + ", ".join(facts))
    state = state_text(image)
    if state:
        parts.append(f"· {state}")
    parts.append(f"({image.project})")
    return " ".join(parts)
