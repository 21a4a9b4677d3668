"""Cloud Storage for the Buckets pane: an async wrapper over google-cloud-storage.

The same code talks to Google (Backend.endpoint None: Google's endpoint, Application Default
Credentials) and to the sandbox (its URL and anonymous credentials). Blocking client calls run
in threads; reads are retried; every error becomes a CloudpaneError that says what failed and
what to do. Exposing actions (public objects, public buckets) check the bucket's rules first
and explain a refusal: uniform bucket-level access has no per-object permissions, public access
prevention forbids any public grant.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from tui.services.audit import AuditLog, AuditLogUnwritable, cloud_identity
from tui.services.clients import Backend, call, client, read_retry
from tui.services.errors import CloudpaneError, InvalidArgument, translate
from tui.services.storage_models import (
    NOT_PUBLIC,
    PUBLIC,
    SUBJECT_TO_ACLS,
    AclEntry,
    Blob,
    Bucket,
    BucketNotEmpty,
    CannotSign,
    DownloadResult,
    IamBinding,
    Location,
    ObjectPage,
    OnExists,
    PublicAccessPrevented,
    StorageClassInfo,
    UniformAccessEnabled,
    UnsafePath,
    UploadResult,
    validate_bucket_name,
)
from tui.services.transfer import (
    ProgressCallback,
    plan_download,
    plan_upload,
    run_download,
    run_upload,
    safe_local_path,
)

__all__ = [
    "LOCATIONS",
    "STORAGE_CLASSES",
    "StorageService",
    "UnsafePath",
    "safe_local_path",
    "validate_bucket_name",
]

GOOGLE_STORAGE_URL = "https://storage.googleapis.com"
PUBLIC_READ_ROLE = "roles/storage.objectViewer"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")
MEMBER_PREFIXES = ("user:", "group:", "serviceAccount:", "domain:")

# Storage prices, USD per GB-month, from https://cloud.google.com/storage/pricing (checked
# 2025-06; regional figures for Iowa/us-central1-class regions, others cost up to ~25 % more).
# A dual-region is billed in both of its regions: the figure is the sum.
STORAGE_CLASSES: dict[str, StorageClassInfo] = {
    "STANDARD": StorageClassInfo(
        "STANDARD",
        "Frequently used data (training sets, checkpoints)",
        0,
        {"region": 0.020, "dual-region": 0.044, "multi-region": 0.026},
    ),
    "NEARLINE": StorageClassInfo(
        "NEARLINE",
        "Read about once a month; 30-day minimum, retrieval fee",
        30,
        {"region": 0.010, "dual-region": 0.022, "multi-region": 0.015},
    ),
    "COLDLINE": StorageClassInfo(
        "COLDLINE",
        "Read about once a quarter; 90-day minimum, retrieval fee",
        90,
        {"region": 0.004, "dual-region": 0.0088, "multi-region": 0.0087},
    ),
    "ARCHIVE": StorageClassInfo(
        "ARCHIVE",
        "Kept for years, read rarely; 365-day minimum, retrieval fee",
        365,
        {"region": 0.0012, "dual-region": 0.0028, "multi-region": 0.0030},
    ),
}

LOCATIONS: tuple[Location, ...] = (
    Location("us-central1", "region", "Iowa"),
    Location("us-east1", "region", "South Carolina"),
    Location("us-east4", "region", "Northern Virginia"),
    Location("us-west1", "region", "Oregon"),
    Location("us-west4", "region", "Las Vegas"),
    Location("europe-west1", "region", "Belgium"),
    Location("europe-west4", "region", "Netherlands"),
    Location("europe-west3", "region", "Frankfurt"),
    Location("europe-north1", "region", "Finland"),
    Location("asia-east1", "region", "Taiwan"),
    Location("asia-northeast1", "region", "Tokyo"),
    Location("asia-southeast1", "region", "Singapore"),
    Location("australia-southeast1", "region", "Sydney"),
    Location("NAM4", "dual-region", "Iowa and South Carolina"),
    Location("EUR4", "dual-region", "Finland and Netherlands"),
    Location("ASIA1", "dual-region", "Tokyo and Osaka"),
    Location("US", "multi-region", "United States"),
    Location("EU", "multi-region", "European Union"),
    Location("ASIA", "multi-region", "Asia"),
)


def location_type(location: str) -> str:
    for known in LOCATIONS:
        if known.code.lower() == location.lower():
            return known.kind
    return "region"


def price_per_gb_month(storage_class: str, location: str) -> float:
    info = STORAGE_CLASSES[storage_class.upper()]
    return info.price_per_gb_month[location_type(location)]


def _blob_model(blob: Any, public_url: str | None = None) -> Blob:
    return Blob(
        bucket=blob.bucket.name,
        name=blob.name,
        size=int(blob.size or 0),
        content_type=blob.content_type or "",
        md5=blob.md5_hash,
        crc32c=blob.crc32c,
        generation=int(blob.generation or 0),
        metageneration=int(blob.metageneration or 0),
        updated=blob.updated,
        created=blob.time_created,
        storage_class=blob.storage_class or "",
        public_url=public_url,
        metadata=dict(blob.metadata or {}),
    )


log = logging.getLogger(__name__)
T = TypeVar("T")


def _is_public_binding(binding: dict[str, Any]) -> bool:
    return any(m in PUBLIC_MEMBERS for m in binding.get("members") or ())


def _error_text(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or str(exc)).lower()


def _soft_delete_s(bucket: Any) -> int | None:
    """The bucket's soft-delete retention in seconds, None when the resource does not say."""
    policy = bucket._properties.get("softDeletePolicy")
    if not isinstance(policy, dict) or policy.get("retentionDurationSeconds") is None:
        return None
    try:
        return int(policy["retentionDurationSeconds"])
    except (TypeError, ValueError):
        return None


class StorageService:
    """Buckets, objects, transfers and permissions for one Backend."""

    def __init__(self, backend: Backend, audit: AuditLog | None = None) -> None:
        self.backend = backend
        self.audit = audit or AuditLog(
            cloud_identity(backend.credentials, backend.is_sandbox),
            backend.project,
            backend.label,
        )

    async def _audited(
        self, action: str, target: str, run: Callable[[], Awaitable[T]], **detail: Any
    ) -> T:
        """Run an exposing change with a record before (refused if unwritable) and after."""
        self.audit.record(action, target, "requested", **detail)
        try:
            result = await run()
        except CloudpaneError as exc:
            self._record_outcome(action, target, f"failed: {exc.message}", **detail)
            raise
        self._record_outcome(action, target, "done", **detail)
        return result

    def _record_outcome(self, action: str, target: str, outcome: str, **detail: Any) -> None:
        try:
            self.audit.record(action, target, outcome, **detail)
        except AuditLogUnwritable:
            log.warning("audit log: could not record %s %s → %s", action, target, outcome)

    # --- plumbing ---------------------------------------------------------------------------

    def client(self) -> Any:
        """The google-cloud-storage Client for this backend (built once, in a thread)."""

        def build() -> Any:
            from google.cloud import storage  # type: ignore[attr-defined]
            from requests.adapters import HTTPAdapter

            if self.backend.endpoint:
                built = storage.Client(
                    project=self.backend.project,
                    credentials=self.backend.credentials,
                    client_options={"api_endpoint": self.backend.endpoint},
                )
            else:  # Google's own endpoint; credentials None means ADC
                built = storage.Client(
                    project=self.backend.project, credentials=self.backend.credentials
                )
            # Parallel transfers need as many pooled connections as workers.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32)
            built._http.mount("https://", adapter)
            built._http.mount("http://", adapter)
            return built

        return client(self.backend, "storage", build)

    async def _client(self) -> Any:
        return await call(self.client, action="connect to Cloud Storage")

    @property
    def base_url(self) -> str:
        return (self.backend.endpoint or GOOGLE_STORAGE_URL).rstrip("/")

    def public_url(self, bucket: str, name: str) -> str:
        """`https://storage.googleapis.com/B/O` on Google; the sandbox's own URL otherwise."""
        return f"{self.base_url}/{bucket}/{urllib.parse.quote(name, safe='/~')}"

    # --- buckets ----------------------------------------------------------------------------

    async def list_buckets(self) -> list[Bucket]:
        gcs = await self._client()

        def fetch() -> list[Bucket]:
            found = list(gcs.list_buckets(retry=read_retry()))
            with ThreadPoolExecutor(8) as pool:
                exposure = list(pool.map(self._exposure_of, found))
            return [
                self._bucket_model(b, public) for b, public in zip(found, exposure, strict=True)
            ]

        return await call(fetch, action="list buckets")

    def _exposure_of(self, bucket: Any) -> str:
        cfg = bucket.iam_configuration
        if cfg.public_access_prevention == "enforced":
            return NOT_PUBLIC
        try:
            policy = bucket.get_iam_policy(retry=read_retry())
        except Exception:
            return "unknown"
        if any(_is_public_binding(b) for b in policy.bindings):
            return PUBLIC
        return NOT_PUBLIC if cfg.uniform_bucket_level_access_enabled else SUBJECT_TO_ACLS

    @staticmethod
    def _bucket_model(bucket: Any, public: str) -> Bucket:
        cfg = bucket.iam_configuration
        return Bucket(
            name=bucket.name,
            location=bucket.location or "",
            location_type=bucket.location_type or location_type(bucket.location or ""),
            storage_class=bucket.storage_class or "STANDARD",
            uniform_access=bool(cfg.uniform_bucket_level_access_enabled),
            public_access_prevention=cfg.public_access_prevention or "inherited",
            public=public,
            created=bucket.time_created,
            labels=dict(bucket.labels or {}),
            soft_delete_s=_soft_delete_s(bucket),
        )

    async def get_bucket(self, name: str) -> Bucket:
        gcs = await self._client()

        def fetch() -> Bucket:
            bucket = gcs.get_bucket(name, retry=read_retry())
            return self._bucket_model(bucket, self._exposure_of(bucket))

        return await call(fetch, action=f"read bucket {name}")

    async def create_bucket(
        self,
        name: str,
        location: str,
        storage_class: str = "STANDARD",
        *,
        uniform_access: bool = True,
        public_access_prevention: str = "inherited",
    ) -> Bucket:
        problem = validate_bucket_name(name)
        if problem:
            raise InvalidArgument(
                f"{name!r} is not a valid bucket name: {problem}",
                "Use 3-63 lowercase letters, digits, dashes and underscores, unique worldwide.",
            )
        if storage_class.upper() not in STORAGE_CLASSES:
            raise InvalidArgument(
                f"Unknown storage class {storage_class!r}.",
                f"Choose one of {', '.join(STORAGE_CLASSES)}.",
            )
        if public_access_prevention not in ("inherited", "enforced"):
            raise InvalidArgument(
                f"Unknown public access prevention {public_access_prevention!r}.",
                "Choose 'enforced' or 'inherited'.",
            )
        gcs = await self._client()

        def create() -> Bucket:
            bucket = gcs.bucket(name)
            bucket.storage_class = storage_class.upper()
            bucket.iam_configuration.uniform_bucket_level_access_enabled = uniform_access
            bucket.iam_configuration.public_access_prevention = public_access_prevention
            made = gcs.create_bucket(bucket, location=location)
            public = NOT_PUBLIC if uniform_access else SUBJECT_TO_ACLS
            if public_access_prevention == "enforced":
                public = NOT_PUBLIC
            return self._bucket_model(made, public)

        return await call(create, action=f"create bucket {name}")

    async def count_objects(self, bucket: str, limit: int = 10_000) -> int:
        """How many objects `bucket` holds, counting at most `limit`."""
        gcs = await self._client()

        def count() -> int:
            blobs = gcs.list_blobs(
                bucket,
                max_results=limit,
                fields="items(name),nextPageToken",
                retry=read_retry(),
            )
            return sum(1 for _ in blobs)

        return await call(count, action=f"count objects in {bucket}")

    async def delete_bucket(self, name: str, *, delete_objects: bool = False) -> int:
        """Delete a bucket; a non-empty one only with delete_objects=True. → objects deleted."""
        count = await self.count_objects(name, limit=1000)
        deleted = 0
        if count:
            if not delete_objects:
                shown = f"{count}" if count < 1000 else "at least 1,000"
                raise BucketNotEmpty(
                    f"Bucket {name} is not empty: it holds {shown} object"
                    f"{'s' if count != 1 else ''}.",
                    "Delete its objects first, or confirm deleting the bucket with everything "
                    "in it.",
                    count=count,
                )
            gcs = await self._client()
            while True:
                names = await call(
                    lambda: [
                        b.name
                        for b in gcs.list_blobs(
                            name, max_results=1000, fields="items(name)", retry=read_retry()
                        )
                    ],
                    action=f"list objects in {name}",
                )
                if not names:
                    break
                deleted += len(await self.delete_objects(name, names))
        gcs = await self._client()
        await call(lambda: gcs.bucket(name).delete(), action=f"delete bucket {name}")
        return deleted

    # --- objects ----------------------------------------------------------------------------

    async def list_page(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "/",
        page_token: str | None = None,
        page_size: int = 200,
    ) -> ObjectPage:
        """One page of a folder view; pass `next_token` back for the next one."""
        gcs = await self._client()

        def fetch() -> ObjectPage:
            iterator = gcs.list_blobs(
                bucket,
                prefix=prefix or None,
                delimiter=delimiter or None,
                page_token=page_token,
                page_size=page_size,
                retry=read_retry(),
            )
            page = next(iterator.pages)
            blobs = tuple(_blob_model(b) for b in page)
            return ObjectPage(
                bucket=bucket,
                prefix=prefix,
                folders=tuple(sorted(page.prefixes)),
                blobs=blobs,
                next_token=iterator.next_page_token,
            )

        return await call(fetch, action=f"list {bucket}/{prefix}")

    async def blob_details(self, bucket: str, name: str) -> Blob:
        """Full details; `public_url` is set when anyone can read the object now."""
        gcs = await self._client()

        def fetch() -> Blob:
            bkt = gcs.get_bucket(bucket, retry=read_retry())
            blob = bkt.get_blob(name, retry=read_retry())
            if blob is None:
                from google.api_core.exceptions import NotFound

                raise NotFound(f"No such object: {bucket}/{name}")
            public = self._object_is_public(bkt, blob)
            return _blob_model(blob, self.public_url(bucket, name) if public else None)

        return await call(fetch, action=f"read {bucket}/{name}")

    def _object_is_public(self, bucket: Any, blob: Any) -> bool:
        cfg = bucket.iam_configuration
        if cfg.public_access_prevention == "enforced":
            return False
        policy = bucket.get_iam_policy(retry=read_retry())
        for binding in policy.bindings:
            if "allUsers" in binding.get("members", ()) and binding["role"] in (
                PUBLIC_READ_ROLE,
                "roles/storage.legacyObjectReader",
                "roles/storage.objectAdmin",
                "roles/storage.admin",
            ):
                return True
        if cfg.uniform_bucket_level_access_enabled:
            return False
        blob.acl.reload(retry=read_retry())
        return "READER" in blob.acl.all().get_roles() or "OWNER" in blob.acl.all().get_roles()

    async def delete_objects(self, bucket: str, names: Sequence[str]) -> list[str]:
        """Delete objects (in parallel). → the names now gone; raises if any could not be."""
        gcs = await self._client()
        bkt = gcs.bucket(bucket)
        failures: dict[str, str] = {}

        def delete(name: str) -> str | None:
            from google.api_core.exceptions import NotFound

            try:
                bkt.blob(name).delete()
            except NotFound:
                pass  # already gone: what the caller wanted
            except Exception as exc:
                failures[name] = str(translate(exc, f"delete {name}"))
                return None
            return name

        def run() -> list[str]:
            with ThreadPoolExecutor(8) as pool:
                return [n for n in pool.map(delete, names) if n is not None]

        done = await call(run, action=f"delete objects in {bucket}")
        if failures:
            first = next(iter(failures.values()))
            raise CloudpaneError(
                f"{len(failures)} of {len(names)} objects could not be deleted: {first}",
                "The others were deleted; refresh and try again.",
            )
        return done

    # --- transfers --------------------------------------------------------------------------

    async def upload(
        self,
        bucket: str,
        sources: Path | Sequence[Path],
        dest_prefix: str = "",
        *,
        on_exists: OnExists = "error",
        progress: ProgressCallback | None = None,
        parallel: int = 8,
    ) -> UploadResult:
        """Upload files and folders under `dest_prefix`; progress is called on this loop.

        Existing objects are never overwritten silently: on_exists says skip, overwrite,
        rename (`name (1).ext`) or error (reported per file in `failed`).
        """
        jobs = await asyncio.to_thread(plan_upload, sources, dest_prefix)
        gcs = await self._client()
        bkt = gcs.bucket(bucket)
        existing: set[str] = set()
        if on_exists in ("skip", "rename") and jobs:
            # One listing instead of a failed upload per existing file; the generation
            # precondition still guards against races.
            prefix = dest_prefix.lstrip("/")
            existing = set(
                await call(
                    lambda: [
                        b.name
                        for b in gcs.list_blobs(
                            bucket,
                            prefix=prefix or None,
                            fields="items(name),nextPageToken",
                            retry=read_retry(),
                        )
                    ],
                    action=f"list {bucket}/{prefix}",
                )
            )
        return await run_upload(bkt, jobs, on_exists, existing, progress, parallel)

    async def download(
        self,
        bucket: str,
        items: str | Sequence[str],
        dest_dir: Path,
        *,
        on_exists: OnExists = "error",
        progress: ProgressCallback | None = None,
        parallel: int = 8,
    ) -> DownloadResult:
        """Download objects and folders (names ending in `/`) into `dest_dir`.

        A folder `data/train/` lands as `dest_dir/train/…`, an object `data/a.txt` as
        `dest_dir/a.txt`. Names that cannot be saved safely are reported in `failed`.
        """
        wanted = [items] if isinstance(items, str) else list(items)
        dest = Path(dest_dir)
        try:
            await asyncio.to_thread(dest.mkdir, parents=True, exist_ok=True)
        except FileExistsError:
            raise InvalidArgument(
                f"{dest} is a file, not a folder.", "Choose a folder to download into."
            ) from None
        except OSError as exc:
            raise InvalidArgument(
                f"Cannot create the folder {dest}: {exc.strerror or exc}.",
                "Choose a folder you can write to.",
            ) from None
        gcs = await self._client()
        bkt = gcs.bucket(bucket)
        jobs = await call(plan_download, bkt, wanted, dest, read_retry(), action=f"list {bucket}")
        return await run_download(bkt, jobs, on_exists, progress, parallel)

    # --- IAM --------------------------------------------------------------------------------

    async def get_iam_policy(self, bucket: str) -> list[IamBinding]:
        gcs = await self._client()

        def fetch() -> list[IamBinding]:
            policy = gcs.bucket(bucket).get_iam_policy(
                requested_policy_version=3, retry=read_retry()
            )
            return [
                IamBinding(b["role"], tuple(sorted(b.get("members") or ())))
                for b in policy.bindings
            ]

        return await call(fetch, action=f"read the permissions of {bucket}")

    async def add_iam_member(self, bucket: str, member: str, role: str) -> list[IamBinding]:
        _check_member(member)
        if not role.startswith(("roles/", "projects/", "organizations/")):
            raise InvalidArgument(
                f"{role!r} is not a role.", "Roles look like roles/storage.objectViewer."
            )
        if member in PUBLIC_MEMBERS:
            await self._refuse_public_bucket(bucket)
            return await self._audited(
                "make-bucket-public",
                f"gs://{bucket}",
                lambda: self._edit_policy(bucket, member, role, add=True),
                member=member,
                role=role,
            )
        return await self._edit_policy(bucket, member, role, add=True)

    async def remove_iam_member(self, bucket: str, member: str, role: str) -> list[IamBinding]:
        return await self._edit_policy(bucket, member, role, add=False)

    async def _edit_policy(
        self, bucket: str, member: str, role: str, *, add: bool
    ) -> list[IamBinding]:
        gcs = await self._client()
        verb = "grant" if add else "revoke"

        def edit() -> None:
            from google.api_core.exceptions import PreconditionFailed

            bkt = gcs.bucket(bucket)
            for _attempt in range(5):  # read-modify-write; the etag catches a concurrent edit
                policy = bkt.get_iam_policy(requested_policy_version=3, retry=read_retry())
                bindings = [dict(b) for b in policy.bindings]
                target = next((b for b in bindings if b["role"] == role), None)
                if add:
                    if target is None:
                        bindings.append({"role": role, "members": {member}})
                    else:
                        target["members"] = set(target["members"]) | {member}
                elif target is not None:
                    target["members"] = set(target["members"]) - {member}
                policy.bindings = [b for b in bindings if b["members"]]
                try:
                    bkt.set_iam_policy(policy)
                    return
                except PreconditionFailed as exc:
                    if "public access prevention" in _error_text(exc):
                        raise
            raise CloudpaneError(f"The permissions of {bucket} keep changing; try again.")

        try:
            await call(edit, action=f"{verb} {role} for {member} on {bucket}")
        except CloudpaneError as exc:
            if "public access prevention" in exc.message.lower():
                raise self.public_access_refusal(bucket) from exc
            raise
        return await self.get_iam_policy(bucket)

    # --- object ACLs ------------------------------------------------------------------------

    async def get_object_acl(self, bucket: str, name: str) -> list[AclEntry]:
        gcs = await self._client()

        def fetch() -> list[AclEntry]:
            blob = gcs.bucket(bucket).blob(name)
            blob.acl.reload(retry=read_retry())
            return [AclEntry(e["entity"], e["role"]) for e in blob.acl]

        return await self._acl_call(fetch, bucket, f"read the ACL of {bucket}/{name}")

    async def add_object_acl(
        self, bucket: str, name: str, entity: str, role: str = "READER"
    ) -> list[AclEntry]:
        """Grant `role` (READER or OWNER) to an entity ("user-a@b.com", "group-…", "allUsers";
        "user:a@b.com" is accepted too)."""
        entity = _acl_entity(entity)
        role = role.upper()
        if role not in ("READER", "OWNER"):
            raise InvalidArgument(f"{role!r} is not an object role.", "Use READER or OWNER.")
        if entity in PUBLIC_MEMBERS:
            await self._refuse_public_object(bucket, name)
        gcs = await self._client()

        def edit() -> list[AclEntry]:
            blob = gcs.bucket(bucket).blob(name)
            blob.acl.reload(retry=read_retry())
            blob.acl.entity_from_dict({"entity": entity, "role": role})
            blob.acl.save()
            return [AclEntry(e["entity"], e["role"]) for e in blob.acl]

        async def grant() -> list[AclEntry]:
            return await self._acl_call(edit, bucket, f"grant {role} on {name} to {entity}")

        if entity in PUBLIC_MEMBERS:
            return await self._audited(
                "make-object-public", f"gs://{bucket}/{name}", grant, entity=entity, role=role
            )
        return await grant()

    async def remove_object_acl(self, bucket: str, name: str, entity: str) -> list[AclEntry]:
        entity = _acl_entity(entity)
        gcs = await self._client()

        def edit() -> list[AclEntry]:
            blob = gcs.bucket(bucket).blob(name)
            blob.acl.reload(retry=read_retry())
            kept = [e for e in blob.acl if e["entity"] != entity]
            blob.acl.save(kept)
            return [AclEntry(e["entity"], e["role"]) for e in kept]

        return await self._acl_call(edit, bucket, f"remove {entity} from the ACL of {name}")

    async def _acl_call(self, fn: Any, bucket: str, action: str) -> Any:
        try:
            return await call(fn, action=action)
        except CloudpaneError as exc:
            text = exc.message.lower()
            if "uniform bucket-level access" in text:
                raise self.uniform_access_refusal(bucket) from exc
            if "public access prevention" in text:
                raise self.public_access_refusal(bucket) from exc
            raise

    # --- public access ----------------------------------------------------------------------

    async def make_public(self, bucket: str, name: str) -> str:
        """Let anyone read one object (fine-grained buckets only). → its public URL."""
        await self.add_object_acl(bucket, name, "allUsers", "READER")
        return self.public_url(bucket, name)

    async def make_private(self, bucket: str, name: str) -> None:
        """Remove the public grants from one object's ACL."""
        cfg = await self._bucket_flags(bucket)
        if cfg["uniform"]:
            raise UniformAccessEnabled(
                f"Objects in {bucket} have no permissions of their own (uniform bucket-level "
                "access): an object is public only through the bucket's policy.",
                "Remove allUsers from the bucket's permissions to make its objects private.",
            )

        async def revoke() -> None:
            await self.remove_object_acl(bucket, name, "allUsers")
            await self.remove_object_acl(bucket, name, "allAuthenticatedUsers")

        await self._audited("make-object-private", f"gs://{bucket}/{name}", revoke)

    async def describe_bucket_exposure(self, bucket: str) -> str:
        """What becomes public if the bucket is made public: say it before asking."""
        count = await self.count_objects(bucket, limit=10_000)
        shown = f"{count:,}" if count < 10_000 else "more than 10,000"
        return (
            f"Anyone on the internet, without signing in, will be able to list and read all "
            f"{shown} object{'s' if count != 1 else ''} in bucket {bucket}, and every object "
            f"added to it later, at {self.public_url(bucket, 'OBJECT')}. "
            "They will not be able to change or delete anything. Downloads by others are "
            "billed to this project as network egress."
        )

    async def make_bucket_public(self, bucket: str) -> str:
        """Grant allUsers → roles/storage.objectViewer on the bucket. → the exposure statement."""
        await self._refuse_public_bucket(bucket)
        statement = await self.describe_bucket_exposure(bucket)
        await self.add_iam_member(bucket, "allUsers", PUBLIC_READ_ROLE)
        return statement

    async def make_bucket_private(self, bucket: str) -> list[IamBinding]:
        """Remove allUsers and allAuthenticatedUsers from every role on the bucket."""
        gcs = await self._client()

        def edit() -> None:
            bkt = gcs.bucket(bucket)
            policy = bkt.get_iam_policy(requested_policy_version=3, retry=read_retry())
            bindings = []
            for binding in policy.bindings:
                members = set(binding["members"]) - set(PUBLIC_MEMBERS)
                if members:
                    bindings.append({**binding, "members": members})
            policy.bindings = bindings
            bkt.set_iam_policy(policy)

        await self._audited(
            "make-bucket-private",
            f"gs://{bucket}",
            lambda: call(edit, action=f"make bucket {bucket} private"),
        )
        return await self.get_iam_policy(bucket)

    async def _bucket_flags(self, bucket: str) -> dict[str, Any]:
        gcs = await self._client()

        def fetch() -> dict[str, Any]:
            cfg = gcs.get_bucket(bucket, retry=read_retry()).iam_configuration
            return {
                "uniform": bool(cfg.uniform_bucket_level_access_enabled),
                "pap": cfg.public_access_prevention == "enforced",
            }

        return await call(fetch, action=f"read bucket {bucket}")

    async def _refuse_public_object(self, bucket: str, name: str) -> None:
        flags = await self._bucket_flags(bucket)
        if flags["pap"]:
            raise self.public_access_refusal(bucket)
        if flags["uniform"]:
            raise self.uniform_access_refusal(bucket, name)

    async def _refuse_public_bucket(self, bucket: str) -> None:
        if (await self._bucket_flags(bucket))["pap"]:
            raise self.public_access_refusal(bucket)

    def uniform_access_refusal(self, bucket: str, name: str | None = None) -> UniformAccessEnabled:
        what = f"{name} cannot be made public on its own" if name else "Object ACLs are off"
        return UniformAccessEnabled(
            f"{what}: bucket {bucket} uses uniform bucket-level access, where permissions "
            "apply to the whole bucket, never to single objects.",
            "You can make the whole bucket public instead (allUsers → Storage Object Viewer): "
            f"every object in {bucket}, now and later, becomes readable by anyone.",
        )

    def public_access_refusal(self, bucket: str) -> PublicAccessPrevented:
        return PublicAccessPrevented(
            f"Bucket {bucket} enforces public access prevention: nothing in it can be made "
            "public (no allUsers or allAuthenticatedUsers grants).",
            "Someone chose this to stop data leaking; if you really need public access, "
            "turn public access prevention off for the bucket (or its organisation policy).",
        )

    # --- signed URLs ------------------------------------------------------------------------

    async def signed_url(self, bucket: str, name: str, expires: timedelta) -> str:
        """A V4 signed URL for GET, valid for `expires` (at most 7 days)."""
        if not timedelta(seconds=1) <= expires <= timedelta(days=7):
            raise InvalidArgument(
                "A signed URL must expire within 1 second to 7 days.", "Choose another expiry."
            )
        creds = self.backend.credentials
        from google.auth.credentials import AnonymousCredentials

        if self.backend.is_sandbox:
            raise CannotSign(
                "The sandbox's owner token is a bearer token, which cannot sign URLs.",
                "Share a public URL instead, or use Google Cloud with credentials that can "
                "sign (a service account).",
            )
        if creds is None or isinstance(creds, AnonymousCredentials):
            raise CannotSign(
                "This session uses anonymous credentials, which cannot sign URLs.",
                "Share a public URL instead, or use Google Cloud with credentials that can "
                "sign (a service account).",
            )
        gcs = await self._client()

        def sign() -> str:
            blob = gcs.bucket(bucket).blob(name)
            kwargs: dict[str, Any] = {}
            if not hasattr(creds, "sign_bytes") and hasattr(creds, "service_account_email"):
                # Compute Engine / impersonated credentials sign through IAM signBlob.
                import google.auth.transport.requests

                creds.refresh(google.auth.transport.requests.Request())
                kwargs = {
                    "service_account_email": creds.service_account_email,
                    "access_token": creds.token,
                }
            try:
                return str(
                    blob.generate_signed_url(
                        version="v4", expiration=expires, method="GET", **kwargs
                    )
                )
            except (AttributeError, TypeError) as exc:
                raise CannotSign(
                    "These credentials (a user login) cannot sign URLs.",
                    "Use a service account: `gcloud auth application-default login "
                    "--impersonate-service-account=SA_EMAIL`.",
                ) from exc

        return await self._audited(
            "sign-url",
            f"gs://{bucket}/{name}",
            lambda: call(sign, action=f"sign a URL for {name}"),
            expires_seconds=int(expires.total_seconds()),
        )


def _check_member(member: str) -> None:
    if member in PUBLIC_MEMBERS:
        return
    kind, _, who = member.partition(":")
    if f"{kind}:" not in MEMBER_PREFIXES or not who or (kind != "domain" and "@" not in who):
        raise InvalidArgument(
            f"{member!r} is not a principal.",
            "Write user:name@example.com, group:team@example.com, "
            "serviceAccount:sa@project.iam.gserviceaccount.com, domain:example.com or allUsers.",
        )


def _acl_entity(entity: str) -> str:
    """Accept IAM-style members too: user:a@b.com → user-a@b.com."""
    if entity in PUBLIC_MEMBERS:
        return entity
    kind, sep, who = entity.partition(":")
    if sep and kind in ("user", "group", "domain"):
        return f"{kind}-{who}"
    if entity.startswith(("user-", "group-", "domain-", "project-")):
        return entity
    raise InvalidArgument(
        f"{entity!r} is not an ACL entity.",
        "Write user-name@example.com, group-team@example.com, domain-example.com or allUsers.",
    )


__all__ += ["location_type", "price_per_gb_month"]
