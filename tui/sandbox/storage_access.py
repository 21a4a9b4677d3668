"""Who may do what in the sandbox's Cloud Storage: ACLs, IAM and Google's two switches.

Uniform bucket-level access (UBLA) turns object and bucket ACLs off (400 on any ACL
operation); public access prevention (PAP) refuses allUsers / allAuthenticatedUsers grants
(412 conditionNotMet) and makes existing public grants ineffective. Pure functions over the
stored documents; the state module does the storing.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from tui.sandbox.context import SandboxContext
from tui.sandbox.errors import ApiError

UBLA_DOC = "Read more at https://cloud.google.com/storage/docs/uniform-bucket-level-access"


PAP_MESSAGE = (
    "The member bindings allUsers and allAuthenticatedUsers are not allowed since public "
    "access prevention is enforced."
)


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


OBJECT_ROLES = {"OWNER", "READER"}


BUCKET_ROLES = {"OWNER", "WRITER", "READER"}


def project_number(ctx: SandboxContext) -> str:
    digest = hashlib.sha256(ctx.project.encode()).hexdigest()
    return str(100_000_000_000 + int(digest[:10], 16) % 900_000_000_000)


def etag_for(*parts: object) -> str:
    return base64.b64encode("/".join(str(p) for p in parts).encode()).decode()


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


def has_public(entries: list[dict[str, Any]]) -> bool:
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
    if pap_enforced(bucket) and has_public(entries):
        raise ApiError(412, PAP_MESSAGE, "conditionNotMet")


def render_iam(name: str, iam: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "storage#policy",
        "resourceId": f"projects/_/buckets/{name}",
        "version": iam.get("version", 1),
        "etag": iam["etag"],
        "bindings": iam["bindings"],
    }


def iam_grants_public_read(bucket: dict[str, Any]) -> bool:
    for binding in bucket["iam"]["bindings"]:
        if binding["role"] in OBJECT_READ_ROLES and "allUsers" in binding["members"]:
            return True
    return False


def object_acl(ctx: SandboxContext, doc: dict[str, Any]) -> list[dict[str, Any]]:
    acl = doc["resource"].get("acl")
    return project_acl(ctx, "object") if acl is None else list(acl)


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
