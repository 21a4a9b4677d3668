"""Cloud Storage state for the sandbox: buckets, objects, ACLs and IAM, with Google's rules.

Documents live in the shared Store (kind `gcs.bucket` keyed by bucket name, `gcs.object` keyed
by `bucket/name`); object bytes live on disk under `blob_dir/gcs/objects/BUCKET/GENERATION`.
Only the fields that cannot be derived are stored (links, ids and default ACLs are rendered on
the way out), so a 100,000-object bucket stays small and lists fast.

The access rules are Google's: uniform bucket-level access (UBLA) turns object and bucket ACLs
off (400 on any ACL operation), public access prevention (PAP) refuses allUsers /
allAuthenticatedUsers grants (412) and makes existing public grants ineffective.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError
from tui.services.storage_models import validate_bucket_name

BUCKET = "gcs.bucket"
OBJECT = "gcs.object"
UPLOAD = "gcs.upload"

UBLA_DOC = "Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access"
PAP_MESSAGE = (
    "The member bindings allUsers and allAuthenticatedUsers are not allowed since public "
    "access prevention is enforced."
)
PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold."
PUBLIC_MEMBERS = {"allUsers", "allAuthenticatedUsers"}
PUBLIC_ENTITIES = {"allUsers", "allAuthenticatedUsers"}
# Roles that let anyone holding them read objects (storage.objects.get).
OBJECT_READ_ROLES = {
    "roles/storage.objectViewer",
    "roles/storage.objectUser",
    "roles/storage.objectAdmin",
    "roles/storage.admin",
    "roles/storage.legacyObjectReader",
    "roles/storage.legacyObjectOwner",
}
KNOWN_ROLES = OBJECT_READ_ROLES | {
    "roles/storage.objectCreator",
    "roles/storage.legacyBucketOwner",
    "roles/storage.legacyBucketReader",
    "roles/storage.legacyBucketWriter",
    "roles/storage.insightsCollectorService",
    "roles/storage.folderAdmin",
}
MEMBER_KINDS: tuple[str, ...] = ("user:", "group:", "serviceAccount:", "domain:", "projectOwner:")
MEMBER_KINDS += ("projectEditor:", "projectViewer:", "principal://", "principalSet://")

STORAGE_CLASSES = {"STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL"}
MULTI_REGIONS = {"US", "EU", "ASIA"}
DUAL_REGIONS = {"NAM4", "EUR4", "ASIA1", "EUR5", "EUR7", "EUR8"}
# Regions are checked by shape (e.g. us-central1, europe-west4), as any real region is valid.
_REGION_PARTS = (
    "us",
    "europe",
    "asia",
    "australia",
    "northamerica",
    "southamerica",
    "me",
    "africa",
)

OBJECT_ROLES = {"OWNER", "READER"}
BUCKET_ROLES = {"OWNER", "WRITER", "READER"}

_gen_lock = threading.Lock()
_last_generation = 0


def project_number(ctx: SandboxContext) -> str:
    digest = hashlib.sha256(ctx.project.encode()).hexdigest()
    return str(100_000_000_000 + int(digest[:10], 16) % 900_000_000_000)


def now_rfc3339(when: float | None = None) -> str:
    dt = datetime.fromtimestamp(when if when is not None else time.time(), tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def new_generation() -> int:
    """Microseconds since the epoch, as Google's generations, strictly increasing."""
    global _last_generation
    with _gen_lock:
        _last_generation = max(time.time_ns() // 1000, _last_generation + 1)
        return _last_generation


def etag_for(*parts: object) -> str:
    return base64.b64encode("/".join(str(p) for p in parts).encode()).decode()


def quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


# --- locations and classes -------------------------------------------------------------------


def location_type(location: str) -> str | None:
    loc = location.upper()
    if loc in MULTI_REGIONS:
        return "multi-region"
    if loc in DUAL_REGIONS:
        return "dual-region"
    parts = location.lower().split("-")
    if len(parts) == 2 and parts[0] in _REGION_PARTS and parts[1][-1:].isdigit():
        return "region"
    return None


# --- buckets ---------------------------------------------------------------------------------


def get_bucket(ctx: SandboxContext, name: str) -> dict[str, Any]:
    doc = ctx.store.get(BUCKET, name)
    if doc is None:
        raise ApiError(404, "The specified bucket does not exist.", "notFound")
    return doc


def ubla(bucket: dict[str, Any]) -> bool:
    iam = bucket["resource"].get("iamConfiguration", {})
    return bool(iam.get("uniformBucketLevelAccess", {}).get("enabled"))


def pap_enforced(bucket: dict[str, Any]) -> bool:
    iam = bucket["resource"].get("iamConfiguration", {})
    return iam.get("publicAccessPrevention") == "enforced"


def project_acl(ctx: SandboxContext, kind: str) -> list[dict[str, Any]]:
    """The projectPrivate ACL: project owners/editors own, viewers read."""
    pn = project_number(ctx)
    top = "OWNER"
    entries: list[dict[str, Any]] = [
        {"entity": f"project-owners-{pn}", "role": top, "projectTeam": {"team": "owners"}},
        {"entity": f"project-editors-{pn}", "role": top, "projectTeam": {"team": "editors"}},
        {"entity": f"project-viewers-{pn}", "role": "READER", "projectTeam": {"team": "viewers"}},
    ]
    for entry in entries:
        entry["projectTeam"] = {**entry["projectTeam"], "projectNumber": pn}
    return entries


def predefined_acl(ctx: SandboxContext, name: str, *, for_bucket: bool) -> list[dict[str, Any]]:
    """Google's predefined ACL names → entries."""
    pn = project_number(ctx)
    owners = {"entity": f"project-owners-{pn}", "role": "OWNER"}
    table: dict[str, list[dict[str, Any]]] = {
        "private": [owners],
        "projectPrivate": project_acl(ctx, "bucket" if for_bucket else "object"),
        "publicRead": [owners, {"entity": "allUsers", "role": "READER"}],
        "authenticatedRead": [owners, {"entity": "allAuthenticatedUsers", "role": "READER"}],
    }
    if for_bucket:
        table["publicReadWrite"] = [owners, {"entity": "allUsers", "role": "WRITER"}]
    else:
        table["bucketOwnerRead"] = [owners]
        table["bucketOwnerFullControl"] = [owners]
    if name not in table:
        raise ApiError(400, f"Invalid predefined ACL: {name}.", "invalid")
    return [dict(entry) for entry in table[name]]


def default_iam(ctx: SandboxContext) -> dict[str, Any]:
    """The policy a new bucket gets on Google: legacy roles for the project's teams."""
    p = ctx.project
    return {
        "version": 1,
        "etag": etag_for("iam", 1),
        "bindings": [
            {
                "role": "roles/storage.legacyBucketOwner",
                "members": [f"projectEditor:{p}", f"projectOwner:{p}"],
            },
            {"role": "roles/storage.legacyBucketReader", "members": [f"projectViewer:{p}"]},
        ],
    }


def render_bucket(ctx: SandboxContext, doc: dict[str, Any], base: str, full: bool) -> dict:
    res = dict(doc["resource"])
    name = res["name"]
    res.update(
        kind="storage#bucket",
        id=name,
        selfLink=f"{base}/storage/v1/b/{quote(name)}",
        projectNumber=project_number(ctx),
        etag=etag_for(name, res["metageneration"]),
    )
    if full:
        res["owner"] = {"entity": f"project-owners-{project_number(ctx)}"}
        if not ubla(doc):
            res["acl"] = [render_acl_entry(e, bucket=name) for e in doc["acl"]]
            res["defaultObjectAcl"] = [
                render_acl_entry(e, bucket=name, kind="object") for e in doc["defaultObjectAcl"]
            ]
    return res


def iam_configuration(ubla_on: bool, pap: str, since: float) -> dict[str, Any]:
    locked = now_rfc3339(since + timedelta(days=90).total_seconds())
    flag: dict[str, Any] = {"enabled": ubla_on}
    if ubla_on:
        flag["lockedTime"] = locked
    return {
        "bucketPolicyOnly": dict(flag),
        "uniformBucketLevelAccess": dict(flag),
        "publicAccessPrevention": pap,
    }


def create_bucket(ctx: SandboxContext, body: dict[str, Any], query: dict[str, str]) -> dict:
    name = body.get("name") or ""
    problem = validate_bucket_name(name)
    if problem:
        raise ApiError(400, f"Invalid bucket name: '{name}'. {problem}", "invalid")
    location = str(body.get("location") or "US")
    kind = location_type(location)
    if kind is None:
        raise ApiError(400, "The specified location constraint is not valid.", "invalid")
    storage_class = str(body.get("storageClass") or "STANDARD").upper()
    if storage_class not in STORAGE_CLASSES:
        raise ApiError(400, f"Invalid storage class: '{storage_class}'.", "invalid")
    requested = body.get("iamConfiguration") or {}
    ubla_on = bool(
        (requested.get("uniformBucketLevelAccess") or {}).get("enabled")
        or (requested.get("bucketPolicyOnly") or {}).get("enabled")
    )
    pap = requested.get("publicAccessPrevention") or "inherited"
    if pap == "unspecified":
        pap = "inherited"
    if pap not in ("inherited", "enforced"):
        raise ApiError(400, f"Invalid value for publicAccessPrevention: '{pap}'.", "invalid")
    if ubla_on and (query.get("predefinedAcl") or query.get("predefinedDefaultObjectAcl")):
        raise ApiError(
            400,
            "Cannot use predefined ACLs when uniform bucket-level access is enabled. " + UBLA_DOC,
            "invalid",
        )
    acl = predefined_acl(ctx, query.get("predefinedAcl") or "projectPrivate", for_bucket=True)
    default_obj = predefined_acl(
        ctx, query.get("predefinedDefaultObjectAcl") or "projectPrivate", for_bucket=False
    )
    if pap == "enforced" and _has_public(acl + default_obj):
        raise ApiError(412, PAP_MESSAGE, "conditionNotMet")
    stamp = time.time()
    resource: dict[str, Any] = {
        "name": name,
        "location": location.upper(),
        "locationType": kind,
        "storageClass": storage_class,
        "metageneration": "1",
        "timeCreated": now_rfc3339(stamp),
        "updated": now_rfc3339(stamp),
        "iamConfiguration": iam_configuration(ubla_on, pap, stamp),
        "labels": dict(body.get("labels") or {}),
    }
    if kind != "region":
        resource["rpo"] = "DEFAULT"
    doc = {
        "resource": resource,
        "acl": acl,
        "defaultObjectAcl": default_obj,
        "iam": default_iam(ctx),
    }
    with ctx.lock:
        if ctx.store.get(BUCKET, name) is not None:
            raise ApiError(
                409,
                "Your previous request to create the named bucket succeeded and you already "
                "own it.",
                "conflict",
            )
        ctx.store.put(BUCKET, name, doc)
    return doc


def patch_bucket(
    ctx: SandboxContext, name: str, body: dict[str, Any], query: dict[str, str]
) -> dict:
    with ctx.lock:
        doc = get_bucket(ctx, name)
        check_metageneration(doc["resource"], query)
        res = doc["resource"]
        if "iamConfiguration" in body:
            cfg = body["iamConfiguration"] or {}
            old = res["iamConfiguration"]
            ubla_cfg = cfg.get("uniformBucketLevelAccess") or cfg.get("bucketPolicyOnly")
            ubla_on = (
                bool(ubla_cfg.get("enabled"))
                if ubla_cfg is not None
                else bool(old["uniformBucketLevelAccess"]["enabled"])
            )
            pap = cfg.get("publicAccessPrevention") or old.get("publicAccessPrevention")
            if pap == "unspecified":
                pap = "inherited"
            if pap not in ("inherited", "enforced"):
                raise ApiError(400, f"Invalid value for publicAccessPrevention: '{pap}'.")
            res["iamConfiguration"] = iam_configuration(ubla_on, pap, time.time())
        acl_change = "acl" in body or "defaultObjectAcl" in body
        predefined = query.get("predefinedAcl") or query.get("predefinedDefaultObjectAcl")
        if (acl_change or predefined) and ubla(doc):
            raise ApiError(
                400,
                "Cannot update legacy ACL for a bucket when uniform bucket-level access is "
                "enabled. " + UBLA_DOC,
                "invalid",
            )
        if query.get("predefinedAcl"):
            doc["acl"] = predefined_acl(ctx, query["predefinedAcl"], for_bucket=True)
        elif "acl" in body:
            doc["acl"] = [clean_acl_entry(e, BUCKET_ROLES) for e in body["acl"] or []]
        if query.get("predefinedDefaultObjectAcl"):
            doc["defaultObjectAcl"] = predefined_acl(
                ctx, query["predefinedDefaultObjectAcl"], for_bucket=False
            )
        elif "defaultObjectAcl" in body:
            doc["defaultObjectAcl"] = [
                clean_acl_entry(e, OBJECT_ROLES) for e in body["defaultObjectAcl"] or []
            ]
        public = _has_public(doc["acl"] + doc["defaultObjectAcl"])
        if pap_enforced(doc) and (acl_change or predefined) and public:
            raise ApiError(412, PAP_MESSAGE, "conditionNotMet")
        for field in ("labels", "storageClass", "versioning", "lifecycle", "cors", "website"):
            if field in body:
                value = body[field]
                if field == "storageClass":
                    value = str(value).upper()
                    if value not in STORAGE_CLASSES:
                        raise ApiError(400, f"Invalid storage class: '{value}'.")
                res[field] = value
        res["metageneration"] = str(int(res["metageneration"]) + 1)
        res["updated"] = now_rfc3339()
        ctx.store.put(BUCKET, name, doc)
    return doc


def check_metageneration(res: dict[str, Any], query: dict[str, str]) -> None:
    meta = int(res["metageneration"])
    match = query.get("ifMetagenerationMatch")
    not_match = query.get("ifMetagenerationNotMatch")
    if (match is not None and int(match) != meta) or (
        not_match is not None and int(not_match) == meta
    ):
        raise ApiError(412, PRECONDITION_MESSAGE, "conditionNotMet")


def delete_bucket(ctx: SandboxContext, name: str, query: dict[str, str]) -> None:
    with ctx.lock:
        doc = get_bucket(ctx, name)
        check_metageneration(doc["resource"], query)
        if ctx.store.list(OBJECT, prefix=f"{name}/", limit=1):
            raise ApiError(409, "The bucket you tried to delete is not empty.", "conflict")
        ctx.store.delete(BUCKET, name)


# --- ACL entries -----------------------------------------------------------------------------


def _has_public(entries: list[dict[str, Any]]) -> bool:
    return any(e.get("entity") in PUBLIC_ENTITIES for e in entries)


def clean_acl_entry(entry: dict[str, Any], roles: set[str]) -> dict[str, Any]:
    entity = str(entry.get("entity") or "")
    role = str(entry.get("role") or "").upper()
    if role not in roles:
        raise ApiError(400, f"Invalid value for ACL role: '{role}'.", "invalid")
    valid = entity in PUBLIC_ENTITIES or entity.startswith(
        ("user-", "group-", "domain-", "project-owners-", "project-editors-", "project-viewers-")
    )
    if not valid:
        raise ApiError(400, f"Invalid value for ACL entity: '{entity}'.", "invalid")
    cleaned: dict[str, Any] = {"entity": entity, "role": role}
    if entity.startswith(("user-", "group-")) and "@" in entity:
        cleaned["email"] = entity.split("-", 1)[1]
    if entity.startswith("domain-"):
        cleaned["domain"] = entity.split("-", 1)[1]
    if "projectTeam" in entry:
        cleaned["projectTeam"] = entry["projectTeam"]
    return cleaned


def render_acl_entry(
    entry: dict[str, Any],
    *,
    bucket: str,
    obj: str | None = None,
    generation: str | None = None,
    kind: str = "bucket",
) -> dict[str, Any]:
    out = dict(entry)
    if obj is not None:
        out.update(
            kind="storage#objectAccessControl",
            bucket=bucket,
            object=obj,
            generation=generation,
            id=f"{bucket}/{obj}/{generation}/{entry['entity']}",
        )
    elif kind == "object":
        out.update(kind="storage#objectAccessControl", bucket=bucket)
    else:
        out.update(
            kind="storage#bucketAccessControl", bucket=bucket, id=f"{bucket}/{entry['entity']}"
        )
    out["etag"] = etag_for(entry["entity"], entry["role"])
    return out


def refuse_acl_under_ubla(bucket: dict[str, Any], verb: str, what: str = "an object") -> None:
    if ubla(bucket):
        raise ApiError(
            400,
            f"Cannot {verb} legacy ACL for {what} when uniform bucket-level access is enabled. "
            + UBLA_DOC,
            "invalid",
        )


def refuse_public_under_pap(bucket: dict[str, Any], entries: list[dict[str, Any]]) -> None:
    if pap_enforced(bucket) and _has_public(entries):
        raise ApiError(412, PAP_MESSAGE, "conditionNotMet")


# --- IAM -------------------------------------------------------------------------------------


def render_iam(name: str, iam: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "storage#policy",
        "resourceId": f"projects/_/buckets/{name}",
        "version": iam.get("version", 1),
        "etag": iam["etag"],
        "bindings": iam["bindings"],
    }


def set_iam(ctx: SandboxContext, name: str, policy: dict[str, Any]) -> dict[str, Any]:
    with ctx.lock:
        doc = get_bucket(ctx, name)
        current = doc["iam"]
        if policy.get("etag") and policy["etag"] != current["etag"]:
            raise ApiError(
                412,
                "The policy was changed by someone else (etag mismatch); read it again.",
                "conditionNotMet",
            )
        bindings = []
        for binding in policy.get("bindings") or []:
            role = str(binding.get("role") or "")
            members = [str(m) for m in binding.get("members") or []]
            if role not in KNOWN_ROLES and not role.startswith("projects/"):
                raise ApiError(400, f"Role {role} is not supported for this resource.", "invalid")
            for member in members:
                if member in PUBLIC_MEMBERS:
                    continue
                if not member.startswith(MEMBER_KINDS) or (
                    member.startswith(("user:", "group:", "serviceAccount:")) and "@" not in member
                ):
                    raise ApiError(400, f"Invalid member: '{member}'.", "invalid")
            if members:
                bindings.append({"role": role, "members": sorted(set(members))})
            if pap_enforced(doc) and PUBLIC_MEMBERS & set(members):
                raise ApiError(412, PAP_MESSAGE, "conditionNotMet")
        version = int(policy.get("version") or 1)
        serial = int(base64.b64decode(current["etag"]).decode().rsplit("/", 1)[1]) + 1
        doc["iam"] = {"version": version, "etag": etag_for("iam", serial), "bindings": bindings}
        ctx.store.put(BUCKET, name, doc)
    return doc["iam"]


def iam_grants_public_read(bucket: dict[str, Any]) -> bool:
    for binding in bucket["iam"]["bindings"]:
        if binding["role"] in OBJECT_READ_ROLES and "allUsers" in binding["members"]:
            return True
    return False


# --- objects ---------------------------------------------------------------------------------


def object_key(bucket: str, name: str) -> str:
    return f"{bucket}/{name}"


def validate_object_name(name: str) -> None:
    if not name:
        raise ApiError(400, "Required parameter: object name.", "required")
    encoded = name.encode("utf-8", "surrogatepass")
    if len(encoded) > 1024:
        raise ApiError(400, "The object name is longer than 1024 bytes.", "invalid")
    if "\r" in name or "\n" in name or name in (".", ".."):
        raise ApiError(400, f"Invalid object name: {name!r}.", "invalid")
    if name.startswith(".well-known/acme-challenge/"):
        raise ApiError(400, "Object names may not start with .well-known/acme-challenge/.")


def get_object(ctx: SandboxContext, bucket: str, name: str) -> dict[str, Any]:
    doc = ctx.store.get(OBJECT, object_key(bucket, name))
    if doc is None:
        get_bucket(ctx, bucket)  # 404 for the bucket first, as Google
        raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
    return doc


def check_preconditions(existing: dict[str, Any] | None, query: dict[str, str]) -> None:
    """ifGeneration(Not)Match / ifMetageneration(Not)Match, as Google: 0 means 'absent'."""
    gen = int(existing["resource"]["generation"]) if existing else 0
    meta = int(existing["resource"]["metageneration"]) if existing else None
    failed = False
    if "ifGenerationMatch" in query and int(query["ifGenerationMatch"]) != gen:
        failed = True
    if "ifGenerationNotMatch" in query and int(query["ifGenerationNotMatch"]) == gen:
        failed = True
    if "ifMetagenerationMatch" in query and (
        meta is None or int(query["ifMetagenerationMatch"]) != meta
    ):
        failed = True
    not_meta = query.get("ifMetagenerationNotMatch")
    if not_meta is not None and meta is not None and int(not_meta) == meta:
        failed = True
    if failed:
        raise ApiError(412, PRECONDITION_MESSAGE, "conditionNotMet")


def objects_dir(ctx: SandboxContext, bucket: str) -> Path:
    path = ctx.blob_dir / "gcs" / "objects" / bucket
    path.mkdir(parents=True, exist_ok=True)
    return path


def object_path(ctx: SandboxContext, doc: dict[str, Any]) -> Path:
    return ctx.blob_dir / "gcs" / doc["file"]


def object_acl(ctx: SandboxContext, doc: dict[str, Any]) -> list[dict[str, Any]]:
    acl = doc["resource"].get("acl")
    return project_acl(ctx, "object") if acl is None else list(acl)


def render_object(
    ctx: SandboxContext, bucket: dict[str, Any], doc: dict[str, Any], base: str, full: bool
) -> dict[str, Any]:
    res = {k: v for k, v in doc["resource"].items() if k != "acl"}
    name, bname, gen = res["name"], res["bucket"], res["generation"]
    res.update(
        kind="storage#object",
        id=f"{bname}/{name}/{gen}",
        selfLink=f"{base}/storage/v1/b/{quote(bname)}/o/{quote(name)}",
        mediaLink=(
            f"{base}/download/storage/v1/b/{quote(bname)}/o/{quote(name)}"
            f"?generation={gen}&alt=media"
        ),
        etag=etag_for(gen, res["metageneration"]),
    )
    if full:
        res["owner"] = {"entity": f"project-owners-{project_number(ctx)}"}
        if not ubla(bucket):
            res["acl"] = [
                render_acl_entry(e, bucket=bname, obj=name, generation=gen)
                for e in object_acl(ctx, doc)
            ]
    return res


def anonymous_can_read(bucket: dict[str, Any], doc: dict[str, Any]) -> bool:
    """Whether allUsers may read this object now (what the public URL serves)."""
    if pap_enforced(bucket):
        return False
    if iam_grants_public_read(bucket):
        return True
    if ubla(bucket):
        return False
    acl = doc["resource"].get("acl") or []
    return any(e["entity"] == "allUsers" and e["role"] in ("READER", "OWNER") for e in acl)


def store_object(
    ctx: SandboxContext,
    bucket_name: str,
    name: str,
    data_file: Path,
    *,
    size: int,
    md5: str,
    crc32c: str,
    metadata: dict[str, Any],
    query: dict[str, str],
) -> dict[str, Any]:
    """Make an uploaded file the object's new generation, atomically, if preconditions hold.

    Called with everything verified; runs without awaiting, so the precondition check and
    the write cannot interleave with another upload of the same name.
    """
    validate_object_name(name)
    with ctx.lock:
        bucket = get_bucket(ctx, bucket_name)
        key = object_key(bucket_name, name)
        existing = ctx.store.get(OBJECT, key)
        check_preconditions(existing, query)
        acl = object_acl_for_insert(ctx, bucket, metadata, query)
        generation = new_generation()
        rel = f"objects/{bucket_name}/{generation}"
        objects_dir(ctx, bucket_name)
        data_file.replace(ctx.blob_dir / "gcs" / rel)
        stamp = now_rfc3339()
        resource: dict[str, Any] = {
            "name": name,
            "bucket": bucket_name,
            "generation": str(generation),
            "metageneration": "1",
            "contentType": metadata.get("contentType") or "application/octet-stream",
            "storageClass": metadata.get("storageClass")
            or bucket["resource"].get("storageClass", "STANDARD"),
            "size": str(size),
            "md5Hash": md5,
            "crc32c": crc32c,
            "timeCreated": stamp,
            "updated": stamp,
            "timeStorageClassUpdated": stamp,
            "acl": acl,
        }
        for field in (
            "metadata",
            "contentEncoding",
            "contentDisposition",
            "contentLanguage",
            "cacheControl",
        ):
            if metadata.get(field) is not None:
                resource[field] = metadata[field]
        doc = {"resource": resource, "file": rel}
        ctx.store.put(OBJECT, key, doc)
        if existing is not None:
            discard_file(ctx, existing)
    return doc


def object_acl_for_insert(
    ctx: SandboxContext, bucket: dict[str, Any], metadata: dict[str, Any], query: dict[str, str]
) -> list[dict[str, Any]] | None:
    predefined = query.get("predefinedAcl")
    if predefined or metadata.get("acl"):
        refuse_acl_under_ubla(bucket, "insert")
    if predefined:
        acl = predefined_acl(ctx, predefined, for_bucket=False)
    elif metadata.get("acl"):
        acl = [clean_acl_entry(e, OBJECT_ROLES) for e in metadata["acl"]]
    else:
        default = bucket.get("defaultObjectAcl")
        is_default = default is None or default == predefined_acl(
            ctx, "projectPrivate", for_bucket=False
        )
        return None if is_default else [dict(e) for e in default or []]
    refuse_public_under_pap(bucket, acl)
    return acl


def discard_file(ctx: SandboxContext, doc: dict[str, Any]) -> None:
    if not doc.get("shared"):
        object_path(ctx, doc).unlink(missing_ok=True)


def delete_object(ctx: SandboxContext, bucket: str, name: str, query: dict[str, str]) -> None:
    with ctx.lock:
        doc = get_object(ctx, bucket, name)
        if "generation" in query and query["generation"] != doc["resource"]["generation"]:
            raise ApiError(404, f"No such object: {bucket}/{name}", "notFound")
        check_preconditions(doc, query)
        ctx.store.delete(OBJECT, object_key(bucket, name))
        discard_file(ctx, doc)


def patch_object(
    ctx: SandboxContext,
    bucket_name: str,
    name: str,
    body: dict[str, Any],
    query: dict[str, str],
    *,
    replace: bool = False,
) -> dict[str, Any]:
    with ctx.lock:
        bucket = get_bucket(ctx, bucket_name)
        doc = get_object(ctx, bucket_name, name)
        check_preconditions(doc, query)
        res = doc["resource"]
        if "acl" in body or query.get("predefinedAcl"):
            refuse_acl_under_ubla(bucket, "update")
            if query.get("predefinedAcl"):
                acl = predefined_acl(ctx, query["predefinedAcl"], for_bucket=False)
            else:
                acl = [clean_acl_entry(e, OBJECT_ROLES) for e in body.get("acl") or []]
            refuse_public_under_pap(bucket, acl)
            res["acl"] = acl
        editable = (
            "contentType",
            "metadata",
            "contentEncoding",
            "contentDisposition",
            "contentLanguage",
            "cacheControl",
        )
        for field in editable:
            if field in body:
                if body[field] is None:
                    res.pop(field, None)
                elif field == "metadata" and not replace:
                    merged = dict(res.get("metadata") or {})
                    for k, v in body[field].items():
                        if v is None:
                            merged.pop(k, None)
                        else:
                            merged[k] = v
                    res["metadata"] = merged
                else:
                    res[field] = body[field]
            elif replace and field != "contentType":
                res.pop(field, None)
        res["metageneration"] = str(int(res["metageneration"]) + 1)
        res["updated"] = now_rfc3339()
        ctx.store.put(OBJECT, object_key(bucket_name, name), doc)
    return doc


def set_object_acl(
    ctx: SandboxContext, bucket_name: str, name: str, acl: list[dict[str, Any]]
) -> dict[str, Any]:
    with ctx.lock:
        bucket = get_bucket(ctx, bucket_name)
        doc = get_object(ctx, bucket_name, name)
        refuse_public_under_pap(bucket, acl)
        doc["resource"]["acl"] = acl
        doc["resource"]["metageneration"] = str(int(doc["resource"]["metageneration"]) + 1)
        ctx.store.put(OBJECT, object_key(bucket_name, name), doc)
    return doc


# --- listing ---------------------------------------------------------------------------------

_AFTER_ALL = "\U0010ffff"


def encode_token(cursor: str) -> str:
    return base64.urlsafe_b64encode(cursor.encode("utf-8", "surrogatepass")).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8", "surrogatepass")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "Invalid page token.", "invalid") from exc


def list_objects(
    ctx: SandboxContext,
    bucket: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    max_results: int = 1000,
    page_token: str = "",
    start_offset: str = "",
    end_offset: str = "",
    include_trailing_delimiter: bool = False,
) -> tuple[list[dict[str, Any]], list[str], str | None]:
    """One page: (object docs, prefixes, next page token). Prefixes count toward max_results.

    A folder is skipped in one step (the next query starts after everything under it), so a
    page costs a few indexed SQLite range scans whatever the bucket's size.
    """
    get_bucket(ctx, bucket)
    max_results = max(1, min(max_results, 1000))
    key_prefix = object_key(bucket, prefix)
    cursor = decode_token(page_token) if page_token else ""
    after = object_key(bucket, cursor) if cursor else ""
    if start_offset and (not cursor or cursor < start_offset):
        # startOffset is inclusive: start just after the largest name below it.
        last = ord(start_offset[-1])
        after = object_key(bucket, start_offset[:-1])
        if last > 0:
            after += chr(last - 1) + _AFTER_ALL
    items: list[dict[str, Any]] = []
    prefixes: list[str] = []
    strip = len(bucket) + 1
    drained = False  # no rows left after `after`
    ended = False  # reached endOffset
    folder = None
    while len(items) + len(prefixes) < max_results and not (drained or ended):
        want = max_results - len(items) - len(prefixes)
        batch = ctx.store.list(OBJECT, prefix=key_prefix, start_after=after, limit=want + 1)
        drained = len(batch) < want + 1
        for key, doc in batch:
            name = key[strip:]
            if end_offset and name >= end_offset:
                ended = True
                break
            if folder is not None and name.startswith(folder):
                continue
            rest = name[len(prefix) :]
            cut = rest.find(delimiter) if delimiter else -1
            if cut >= 0:
                folder = prefix + rest[: cut + len(delimiter)]
                prefixes.append(folder)
                if include_trailing_delimiter and name == folder:
                    items.append(doc)
                after = object_key(bucket, folder) + _AFTER_ALL
            else:
                items.append(doc)
                after = key
            if len(items) + len(prefixes) >= max_results:
                drained = False  # rows may remain after this one
                break
    next_token = None
    if not ended:
        more = ctx.store.list(OBJECT, prefix=key_prefix, start_after=after, limit=1)
        if more and not (end_offset and more[0][0][strip:] >= end_offset):
            next_token = encode_token(after[strip:])
    return items, prefixes, next_token
