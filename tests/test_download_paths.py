"""safe_local_path: a download never writes outside the chosen folder, whatever the name."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tui.services.clients import Backend
from tui.services.storage import StorageService, UnsafePath, safe_local_path
from tui.services.transfer import MAX_COMPONENT_BYTES, free_name


def inside(root: Path, path: Path) -> bool:
    return root.resolve() in path.parents


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.txt", "a.txt"),
        ("dir/sub/a.txt", "dir/sub/a.txt"),
        ("/etc/passwd", "etc/passwd"),  # absolute names stay inside
        ("//double//slash", "double/slash"),
        ("./a/./b", "a/b"),
        ("C:\\x", "C:/x"),  # a Windows drive path is only a folder name here
        ("back\\slash\\name.txt", "back/slash/name.txt"),
        ("tab\there\x7f.txt", "tab_here_.txt"),  # control characters
        ("spaces and ünïcödé €.txt", "spaces and ünïcödé €.txt"),
        ("a/.hidden", "a/.hidden"),
        ("a/..b", "a/..b"),  # dots inside a name are fine
    ],
)
def test_safe_names_map_inside(tmp_path: Path, name: str, expected: str) -> None:
    path = safe_local_path(tmp_path, name)
    assert inside(tmp_path, path)
    assert path.relative_to(tmp_path.resolve()).as_posix() == expected


@pytest.mark.parametrize(
    "name",
    [
        "../x",
        "a/../../b",
        "..",
        "a/..",
        "...",
        "a/..../b",
        "..\\..\\windows\\system32",
        "nul\x00byte",
        "",
        "/",
        "./.",
        "////",
    ],
)
def test_unsafe_names_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePath) as err:
        safe_local_path(tmp_path, name)
    assert "was not saved" in err.value.message and err.value.hint


def test_strip_prefix(tmp_path: Path) -> None:
    path = safe_local_path(tmp_path, "data/train/x.png", strip_prefix="data/")
    assert path == tmp_path.resolve() / "train" / "x.png"
    # A prefix that does not match is not stripped.
    other = safe_local_path(tmp_path, "models/m.bin", strip_prefix="data/")
    assert other == tmp_path.resolve() / "models" / "m.bin"
    with pytest.raises(UnsafePath):
        safe_local_path(tmp_path, "data/../../x", strip_prefix="data/")


def test_very_long_names_are_shortened_uniquely(tmp_path: Path) -> None:
    long_a = "a" * 600 + ".tar.gz"
    long_b = "a" * 599 + "b.tar.gz"
    pa = safe_local_path(tmp_path, f"dir/{long_a}")
    pb = safe_local_path(tmp_path, f"dir/{long_b}")
    assert pa != pb and inside(tmp_path, pa)
    for path in (pa, pb):
        assert len(path.name.encode()) <= MAX_COMPONENT_BYTES and path.name.endswith(".gz")
    multibyte = safe_local_path(tmp_path, "é" * 400)
    assert len(multibyte.name.encode()) <= MAX_COMPONENT_BYTES
    pa.parent.mkdir(parents=True)
    pa.write_bytes(b"ok")  # the file system accepts it
    with pytest.raises(UnsafePath, match="too long"):
        safe_local_path(tmp_path, "/".join(["d" * 200] * 25))


def test_symlink_out_of_root_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePath, match="link"):
        safe_local_path(root, "link/file.txt")
    os.symlink(outside / "target", root / "file-link")
    with pytest.raises(UnsafePath, match="symbolic link"):
        safe_local_path(root, "file-link")
    os.symlink(root / "real", root / "inner-link")  # a link that stays inside is fine
    (root / "real").mkdir()
    assert inside(root, safe_local_path(root, "inner-link/x"))


def test_free_name() -> None:
    taken = {"a/b.txt", "a/b (1).txt"}
    assert free_name("a/b.txt", taken.__contains__) == "a/b (2).txt"
    assert free_name("noext", set().__contains__) == "noext (1)"
    assert free_name(".env", set().__contains__) == ".env (1)"
    assert free_name("x.tar.gz", set().__contains__) == "x.tar (1).gz"


@pytest.mark.parametrize("count", [84, 85], ids=["84-cjk-252-bytes", "85-cjk-255-bytes"])
def test_long_multibyte_name_downloads(clean_sandbox: Backend, tmp_path: Path, count: int) -> None:
    """A name near the 255-byte limit downloads: the partial file beside it has a short name
    of its own (it was `.NAME.xxxx.cloudpane-partial`, past 255 bytes: "network error")."""
    name = "深" * count
    source = tmp_path / "up" / name
    source.parent.mkdir()
    source.write_bytes(b"weights")
    service = StorageService(clean_sandbox)
    asyncio.run(service.create_bucket("cjk-names", "us-central1"))
    asyncio.run(service.upload("cjk-names", source))
    result = asyncio.run(service.download("cjk-names", name, tmp_path / "out"))
    assert result.ok, result.failed
    saved = tmp_path / "out" / name
    assert saved.read_bytes() == b"weights"
    assert [p.name for p in (tmp_path / "out").iterdir()] == [name]  # no partial file left
