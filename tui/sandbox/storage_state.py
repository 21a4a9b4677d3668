"""Cloud Storage state for the sandbox: buckets and objects, with Google's rules.

Documents live in the shared Store (kind `gcs.bucket` keyed by bucket name, `gcs.object` keyed
by `bucket/name`); object bytes live on disk under `blob_dir/gcs/objects/BUCKET/GENERATION`.
Only the fields that cannot be derived are stored (links, ids and default ACLs are rendered on
the way out), so a 100,000-object bucket stays small and lists fast.

Access rules (ACLs, IAM, uniform access, public access prevention) are in storage_access;
listing is in storage_listing.
"""

from __future__ import annotations

import base64
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError
from tui.sandbox.storage_access import (
    BUCKET_ROLES,
    KNOWN_ROLES,
    MEMBER_KINDS,
    OBJECT_ROLES,
    PAP_MESSAGE,
    PUBLIC_MEMBERS,
    UBLA_DOC,
    clean_acl_entry,
    default_iam,
    etag_for,
    has_public,
    object_acl,
    object_acl_for_insert,
    pap_enforced,
    predefined_acl,
    project_number,
    refuse_acl_under_ubla,
    refuse_public_under_pap,
    render_acl_entry,
    ubla,
)
from tui.services.storage_models import validate_bucket_name

BUCKET = "gcs.bucket"
OBJECT = "gcs.object"
UPLOAD = "gcs.upload"

PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold."

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


_gen_lock = threading.Lock()
_last_generation = 0


def now_rfc3339(when: float | None = None) -> str:
    dt = datetime.fromtimestamp(when if when is not None else time.time(), tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def new_generation() -> int:
    """Microseconds since the epoch, as Google's generations, strictly increasing."""
    global _last_generation
    with _gen_lock:
        _last_generation = max(time.time_ns() // 1000, _last_generation + 1)
        return _last_generation


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


# Soft delete (https://cloud.google.com/storage/docs/soft-delete): on by default for new buckets
# with a 7-day retention; a retention of 0 turns it off, otherwise 7 to 90 days.
SOFT_DELETE_DEFAULT_S = 7 * 86400
SOFT_DELETE_MAX_S = 90 * 86400


def soft_delete_policy(requested: Any, stamp: float) -> dict[str, str]:
    """The bucket's softDeletePolicy as Google serves it (seconds as a string)."""
    if requested is None:
        seconds = SOFT_DELETE_DEFAULT_S
    else:
        raw = (requested or {}).get("retentionDurationSeconds", SOFT_DELETE_DEFAULT_S)
        try:
            seconds = int(raw)
        except (TypeError, ValueError):
            raise ApiError(400, f"Invalid value for retentionDurationSeconds: '{raw}'.") from None
        if seconds != 0 and not SOFT_DELETE_DEFAULT_S <= seconds <= SOFT_DELETE_MAX_S:
            raise ApiError(
                400,
                "The soft delete retention duration must be 0 (disabled) or between 7 and 90 "
                "days (604800 to 7776000 seconds).",
                "invalid",
            )
    return {"retentionDurationSeconds": str(seconds), "effectiveTime": now_rfc3339(stamp)}


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
    if pap == "enforced" and has_public(acl + default_obj):
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
        "softDeletePolicy": soft_delete_policy(body.get("softDeletePolicy"), stamp),
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
        if "softDeletePolicy" in body:
            res["softDeletePolicy"] = soft_delete_policy(
                body["softDeletePolicy"] or {}, time.time()
            )
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
        public = has_public(doc["acl"] + doc["defaultObjectAcl"])
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


# --- IAM -------------------------------------------------------------------------------------


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
