"""Region and zone come from where gcloud users keep them: flag > CLOUDSDK_COMPUTE_* >
cloudpane's config > gcloud's active configuration (compute/region, compute/zone) > default.

conftest points CLOUDSDK_CONFIG at an empty folder; these tests write gcloud's own files there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tui.__main__ import build_parser, effective_config
from tui.config import ConfigError


def gcloud(active: str, **sections: dict[str, str]) -> None:
    root = Path(os.environ["CLOUDSDK_CONFIG"])
    (root / "configurations").mkdir(parents=True, exist_ok=True)
    (root / "active_config").write_text(active + "\n")
    text = "".join(
        f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in values.items())
        for name, values in sections.items()
    )
    (root / "configurations" / f"config_{active}").write_text(text)


def config_for(*argv: str, toml: str = "", tmp_path: Path) -> tuple[str, str, str]:
    path = tmp_path / "cloudpane.toml"
    path.write_text(toml)
    args = build_parser().parse_args(["--config", str(path), *argv, "status"])
    config = effective_config(args)
    return config.region, config.zone, getattr(config, "location_source", "?")


@pytest.fixture(autouse=True)
def _no_compute_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("CLOUDSDK_COMPUTE_ZONE", "CLOUDSDK_COMPUTE_REGION", "CLOUDSDK_ACTIVE_CONFIG_NAME"):
        monkeypatch.delenv(var, raising=False)


def test_gcloud_active_configuration_gives_zone_and_region(tmp_path: Path) -> None:
    gcloud("course", core={"project": "p1"}, compute={"zone": "europe-west2-b"})
    from tui.config import gcloud_properties  # (one reader for project, zone and region)

    assert gcloud_properties()["compute/zone"] == "europe-west2-b"
    assert config_for(tmp_path=tmp_path) == ("europe-west2", "europe-west2-b", "gcloud config")
    gcloud("other", compute={"region": "me-west1"})
    assert config_for(tmp_path=tmp_path) == (
        "me-west1",
        "me-west1-a",
        "region: gcloud config, zone: default",
    )


def test_the_named_configuration_wins_over_the_active_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gcloud("a", compute={"zone": "asia-east1-b"})
    gcloud("b", compute={"zone": "us-east4-c"})  # now active
    monkeypatch.setenv("CLOUDSDK_ACTIVE_CONFIG_NAME", "a")
    assert config_for(tmp_path=tmp_path)[:2] == ("asia-east1", "asia-east1-b")


def test_order_flag_env_config_gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcloud("default", compute={"zone": "europe-west2-b", "region": "europe-west2"})
    toml = 'zone = "europe-west4-a"\n'
    assert config_for(toml=toml, tmp_path=tmp_path)[:2] == ("europe-west4", "europe-west4-a")
    monkeypatch.setenv("CLOUDSDK_COMPUTE_ZONE", "us-west1-b")
    assert config_for(toml=toml, tmp_path=tmp_path) == (
        "us-west1",
        "us-west1-b",
        "CLOUDSDK_COMPUTE_REGION/ZONE",
    )
    assert config_for("--zone", "asia-east1-c", toml=toml, tmp_path=tmp_path)[:2] == (
        "asia-east1",
        "asia-east1-c",
    )
    # A region from a stronger source than the zone: the zone elsewhere is not used.
    monkeypatch.delenv("CLOUDSDK_COMPUTE_ZONE")
    monkeypatch.setenv("CLOUDSDK_COMPUTE_REGION", "europe-west2")
    assert config_for(toml=toml, tmp_path=tmp_path)[:2] == ("europe-west2", "europe-west2-b")


def test_a_bad_value_names_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_COMPUTE_ZONE", "europe-west2")
    with pytest.raises(ConfigError, match="CLOUDSDK_COMPUTE_ZONE: 'europe-west2' is a region"):
        config_for(tmp_path=tmp_path)


def test_without_any_setting_the_default_stands(tmp_path: Path) -> None:
    assert config_for(tmp_path=tmp_path) == ("us-central1", "us-central1-a", "default")
