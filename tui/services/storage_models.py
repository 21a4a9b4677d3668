"""What the Buckets pane consumes: plain dataclasses, the errors it shows, the naming rules.

Kept apart from models.py for now (the lead folds them in later). Pure: no client library
imports, so the sandbox can share the bucket-name rules with the service.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from tui.services.errors import CloudpaneError, InvalidArgument, PreconditionFailed

OnExists = Literal["skip", "overwrite", "rename", "error"]
TransferState = Literal["started", "progress", "verifying", "done", "skipped", "failed"]

# What the console calls a bucket's "Public access".
NOT_PUBLIC = "not public"  # public access prevention enforced, or nothing granted
SUBJECT_TO_ACLS = "subject to object ACLs"  # fine-grained: single objects may be public
PUBLIC = "public to internet"  # allUsers / allAuthenticatedUsers in the bucket's IAM policy


@dataclass(frozen=True)
class Bucket:
    name: str
    location: str  # e.g. "US-CENTRAL1", "NAM4", "US"
    location_type: str  # "region", "dual-region", "multi-region"
    storage_class: str  # STANDARD, NEARLINE, COLDLINE, ARCHIVE
    uniform_access: bool
    public_access_prevention: str  # "enforced" or "inherited"
    public: str = NOT_PUBLIC  # NOT_PUBLIC, SUBJECT_TO_ACLS, PUBLIC, or "unknown"
    created: datetime | None = None
    labels: dict[str, str] = field(default_factory=dict)
    # softDeletePolicy.retentionDurationSeconds: deleted/overwritten data stays billed this long
    # (0: soft delete off; None: the bucket did not say)
    soft_delete_s: int | None = None

    @property
    def is_public(self) -> bool:
        return self.public == PUBLIC


@dataclass(frozen=True, slots=True)  # slots: a folder view may hold 50,000 of these
class Blob:
    bucket: str
    name: str
    size: int
    content_type: str
    md5: str | None  # base64, as Google shows it
    crc32c: str | None  # base64, as Google shows it
    generation: int
    metageneration: int
    updated: datetime | None
    created: datetime | None = None
    storage_class: str = ""
    public_url: str | None = None  # set when anyone can read it now
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def basename(self) -> str:
        return self.name.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ObjectPage:
    """One page of a folder view: sub-folders (prefixes) and objects, and where to go on."""

    bucket: str
    prefix: str
    folders: tuple[str, ...]
    blobs: tuple[Blob, ...]
    next_token: str | None = None


@dataclass(frozen=True)
class AclEntry:
    entity: str  # "user-a@b.com", "group-g@b.com", "allUsers", "project-owners-123", …
    role: str  # OWNER, READER (objects); OWNER, WRITER, READER (buckets)

    @property
    def is_public(self) -> bool:
        return self.entity in ("allUsers", "allAuthenticatedUsers")


@dataclass(frozen=True)
class IamBinding:
    role: str  # "roles/storage.objectViewer"
    members: tuple[str, ...]  # "user:a@b.com", "group:…", "allUsers", …


@dataclass(frozen=True)
class TransferProgress:
    """One progress report: this file, and the whole transfer."""

    name: str  # object name
    local_path: Path
    state: TransferState
    file_bytes: int  # done for this file
    file_total: int
    files_done: int  # finished (done, skipped or failed) of files_total
    files_total: int
    bytes_done: int  # all files
    bytes_total: int
    message: str = ""  # why skipped or failed; the new name when renamed

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 1.0


@dataclass(frozen=True)
class UploadResult:
    uploaded: tuple[str, ...]  # object names written (after any rename)
    skipped: tuple[str, ...]  # existed and on_exists="skip"
    renamed: dict[str, str]  # wanted name → name used
    failed: dict[str, str]  # object name → message (conflicts included)
    bytes: int
    seconds: float
    conflicts: tuple[str, ...] = ()  # names taken already, with on_exists="error"

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class DownloadResult:
    downloaded: tuple[Path, ...]
    skipped: tuple[str, ...]
    failed: dict[str, str]  # object name → message (conflicts included)
    bytes: int
    seconds: float
    conflicts: tuple[str, ...] = ()  # names taken already, with on_exists="error"

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class StorageClassInfo:
    name: str
    description: str
    min_storage_days: int
    # USD per GB-month by location type ("region", "dual-region", "multi-region").
    price_per_gb_month: dict[str, float]


@dataclass(frozen=True)
class Location:
    code: str  # as the API takes it: "us-central1", "NAM4", "US"
    kind: str  # "region", "dual-region", "multi-region"
    description: str


# --- errors the Buckets pane shows (to be folded into errors.py) ---------------------------


class UnsafePath(CloudpaneError):
    title = "Unsafe file name"


class UniformAccessEnabled(InvalidArgument):
    """An object-level ACL operation on a bucket with uniform bucket-level access."""

    title = "Uniform access"


class PublicAccessPrevented(PreconditionFailed):
    title = "Public access prevention"


class CannotSign(CloudpaneError):
    title = "Cannot sign"


class BucketNotEmpty(CloudpaneError):
    title = "Bucket not empty"

    def __init__(self, message: str, hint: str = "", count: int = 0) -> None:
        super().__init__(message, hint)
        self.count = count


class ObjectExists(CloudpaneError):
    """An upload would replace an object; the person chooses skip, overwrite or rename."""

    title = "Already exists"


class ChecksumMismatch(CloudpaneError):
    title = "Corrupt transfer"


# --- bucket names (Google's rules) -----------------------------------------------------------

_ALLOWED = re.compile(r"^[a-z0-9._-]+$")
_GOOGLE_LIKE = re.compile(r"g[o0][o0]g[l1]e")


def validate_bucket_name(name: str) -> str | None:
    """None when `name` is a valid Cloud Storage bucket name, else the rule it breaks.

    https://cloud.google.com/storage/docs/buckets#naming
    """
    if not name:
        return "A bucket name is required."
    if name != name.lower() and _ALLOWED.match(name.lower()):
        return "Bucket names can only contain lowercase letters."
    if not _ALLOWED.match(name):
        return (
            "Bucket names can only contain lowercase letters, digits, dashes (-), "
            "underscores (_) and dots (.)."
        )
    if not (name[0].isalnum() and name[-1].isalnum()):
        return "Bucket names must start and end with a letter or a digit."
    if "." in name:
        if len(name) > 222:
            return "Bucket names with dots can be at most 222 characters long."
        if any(len(part) > 63 for part in name.split(".")):
            return "Each dot-separated part of a bucket name can be at most 63 characters long."
        if any(not part for part in name.split(".")):
            return "Bucket names cannot contain empty dot-separated parts ('..')."
    elif len(name) > 63:
        return "Bucket names must be at most 63 characters long (222 if they contain dots)."
    if len(name) < 3:
        return "Bucket names must be at least 3 characters long."
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return "Bucket names cannot be IP addresses in dotted-decimal notation."
    if name.startswith("goog"):
        return 'Bucket names cannot begin with the "goog" prefix.'
    if _GOOGLE_LIKE.search(name):
        return 'Bucket names cannot contain "google" or close misspellings such as "g00gle".'
    return None


def bucket_name_warning(name: str) -> str | None:
    """A valid name Google may still refuse: one with dots names a domain, and Google creates it
    only for someone who has verified they own that domain (naming rules: "Bucket names
    containing dots require verification"; https://cloud.google.com/storage/docs/buckets#naming)."""
    if "." not in name or validate_bucket_name(name) is not None:
        return None
    return (
        "Bucket names containing dots require verification: Google creates this bucket only if "
        f"you have verified that you own the domain {name!r} names (Google Search Console). "
        "Use dashes instead (e.g. " + name.replace(".", "-") + ") unless it is for a website."
    )


# --- object names (Google's rules, plus what cloudpane can save locally) ---------------------

MAX_OBJECT_NAME_BYTES = 1024
_OBJECT_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_object_name(name: str) -> str | None:
    """None when `name` can be an object's name, else the rule it breaks.

    Google's rules: 1-1024 bytes of UTF-8, no carriage return or line feed, not "." or "..",
    not under ".well-known/acme-challenge/". cloudpane also refuses control characters and
    "." / ".." folder parts, since it could not download such an object safely.
    https://cloud.google.com/storage/docs/objects#naming
    """
    if not name:
        return "An object name is required."
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "Object names must be valid Unicode text."
    if size > MAX_OBJECT_NAME_BYTES:
        return (
            f"Object names can be at most {MAX_OBJECT_NAME_BYTES} bytes of UTF-8; this is {size}."
        )
    if "\r" in name or "\n" in name:
        return "Object names cannot contain line breaks (carriage return or line feed)."
    bad = sorted(set(_OBJECT_CONTROL.findall(name)))
    if bad:
        shown = ", ".join(f"\\x{ord(c):02x}" for c in bad)
        return f"Object names cannot contain control characters ({shown})."
    if name in (".", ".."):
        return 'An object cannot be named "." or "..".'
    if name.startswith(".well-known/acme-challenge/"):
        return 'Object names cannot begin with ".well-known/acme-challenge/".'
    if any(part in (".", "..") for part in name.split("/")):
        return (
            'A folder or file name inside an object name cannot be "." or "..": '
            "such an object could not be downloaded safely."
        )
    return None
