"""The sandbox's owner: one secret in an owner-only file, and the files that carry it.

Loopback is shared by every account on the machine and reachable from every web page, so the
daemon must tell its owner from anyone else. The owner is whoever can read `owner-token` in the
data directory (0700 folder, 0600 file): cloudpane and the user's tools present it as an OAuth
bearer token through their ordinary credentials (docs/security.md says why this and not the
kernel's peer UID).

The same secret proves the daemon to its clients: before a client sends the token it asks the
daemon to answer a random nonce with HMAC-SHA256(secret, nonce + the daemon's own address),
which only the secret's holder can do. A stranger that took the port after the sandbox stopped
cannot answer, and never sees the token; nor can it pass the question on to the real daemon
(now on another port) and replay its answer, because that answer names the other address.

Stdlib only: the CLI, the services and the daemon all import it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import urllib.error
import urllib.request
from pathlib import Path

TOKEN_FILE = "owner-token"
ADC_FILE = "adc.json"
# The OAuth client an ADC file must name; the sandbox does not check it (the refresh token is
# the secret), Google's libraries only insist that it is there.
ADC_CLIENT = "cloudpane-sandbox"
ADC_AUDIENCE = (
    "//iam.googleapis.com/locations/global/workforcePools/cloudpane-sandbox/providers/owner"
)
PROOF_CONTEXT = b"cloudpane-sandbox-health\0"


class NotYourSandbox(RuntimeError):
    """Something answers on the sandbox's address, but it is not this user's sandbox."""


def stranger_message(url: str) -> str:
    where = url.removeprefix("http://").rstrip("/")
    return (
        f"Something else is listening on {where}, not your sandbox; run `cloudpane sandbox start`."
    )


# --- owner-only files ---------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it 0700, even if it existed with wider modes."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
    return path


def tighten_tree(root: Path) -> None:
    """Take group and other bits off everything under `root` (data from older versions).

    Only walks when the root itself was open: a tree made by this version is private already,
    and a bucket of 50,000 objects should not be walked at every start.
    """
    if not root.exists() or not stat.S_IMODE(root.stat().st_mode) & 0o077:
        return
    make_tree_private(root)


def make_tree_private(root: Path) -> None:
    """Take group and other bits off `root` and everything under it (e.g. an unpacked archive,
    whose files keep the modes they had in it whatever the umask)."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            with contextlib.suppress(OSError):
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                if mode & 0o077 and not os.path.islink(path):
                    os.chmod(path, mode & 0o700)
    root.chmod(0o700)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)  # O_CREAT's mode is only used for a new file
    os.replace(tmp, path)


def open_private_append(path: Path) -> int:
    """A file descriptor appending to `path`, created 0600 (and made 0600 if it was not)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd


# --- the secret -----------------------------------------------------------------------------


def ensure_token(data_dir: Path) -> str:
    """The owner's secret, created once (0600) and kept across restarts."""
    private_dir(data_dir)
    path = data_dir / TOKEN_FILE
    token = read_token(data_dir)
    if token:
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            path.chmod(0o600)
        return token
    write_private(path, secrets.token_urlsafe(32) + "\n")
    return read_token(data_dir) or ""


def read_token(data_dir: Path) -> str | None:
    try:
        return (data_dir / TOKEN_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def token_matches(presented: str, token: str) -> bool:
    return hmac.compare_digest(presented.encode(), token.encode())


def write_adc(data_dir: Path, token: str, base_url: str) -> Path:
    """An Application Default Credentials file for the user's tools and the sandbox's jobs.

    An `external_account_authorized_user` file (Google's format for a workforce identity's
    login) whose refresh token is the secret and whose token URL is the sandbox's own `/token`:
    google-auth exchanges it for an access token (the secret again) as it would with Google's
    STS, so a plain `storage.Client()` authenticates. Not an `authorized_user` file: google-auth
    ignores the token URI of those and always asks oauth2.googleapis.com.
    """
    path = data_dir / ADC_FILE
    write_private(
        path,
        json.dumps(
            {
                "type": "external_account_authorized_user",
                "audience": ADC_AUDIENCE,
                "client_id": ADC_CLIENT,
                "client_secret": ADC_CLIENT,
                "refresh_token": token,
                "token_url": f"{base_url}/token",
            },
            indent=2,
        ),
    )
    return path


# --- the daemon proves itself -------------------------------------------------------------


def proof(token: str, nonce: str, address: str) -> str:
    """The daemon's answer to `nonce`, bound to the address it serves (`http://HOST:PORT`)."""
    message = PROOF_CONTEXT + nonce.encode() + b"\0" + address.rstrip("/").encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def verify_daemon(
    url: str, token: str, timeout: float = 2.0, *, daemon_url: str | None = None
) -> dict | None:
    """Ask the daemon at `url` to prove it holds `token`, without sending the token.

    The answer must name `url` as the daemon's own address — or `daemon_url`, when `url` is a
    relay the caller put there itself (the tests' fault-injecting proxy). Returns its health
    document when it proves it; None when nothing answers; raises NotYourSandbox when
    something answers but cannot prove it.
    """
    nonce = secrets.token_urlsafe(16)
    try:
        with urllib.request.urlopen(
            f"{url}/_sandbox/health?nonce={nonce}", timeout=timeout
        ) as resp:
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        exc.close()
        raise NotYourSandbox(stranger_message(url)) from None
    except OSError:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        raise NotYourSandbox(stranger_message(url)) from None
    answer = body.get("proof") if isinstance(body, dict) else None
    expected = proof(token, nonce, daemon_url or url)
    if not isinstance(answer, str) or not hmac.compare_digest(answer, expected):
        raise NotYourSandbox(stranger_message(url))
    return body
