"""Config file parsing and the documented project-resolution order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.config import Config, ConfigError, gcloud_project, load_config, resolve_project


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(tmp_path / "nope.toml")
    assert config == Config()


def test_values_and_profiles(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.toml",
        'project = "p1"\nzone = "europe-west4-a"\n[costs]\nlaptop_price = 2000\n'
        '[rules]\nidle_minutes = 20\n[profiles.prod]\nproject = "prod-1"\nread_only = true\n',
    )
    config = load_config(path)
    assert config.project == "p1"
    assert config.cost_settings().laptop_price == 2000.0
    assert config.rules == {"idle_minutes": 20}
    assert config.turn_off_rules().idle_minutes == 20
    prod = config.with_profile("prod")
    assert (prod.project, prod.read_only, prod.zone) == ("prod-1", True, "europe-west4-a")


def test_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "c.toml", "[profiles.a]\nproject = 'x'\n"))
    with pytest.raises(ConfigError, match=r"no profile named 'b'.*profiles: a"):
        config.with_profile("b")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("projct = 'x'\n", "unknown setting 'projct'"),
        ("read_only = 'yes'\n", "read_only must be true or false"),
        ("refresh_seconds = -5\n", "refresh_seconds must be more than 0"),
        ("refresh_seconds = true\n", "refresh_seconds must be a number"),
        ("[costs]\nlaptop_price = -5\n", "costs.laptop_price must be a positive number"),
        ("[rules]\nidle_minutes = 'ten'\n", "rules.idle_minutes"),
        ("[rules]\nidle_minuts = 10\n", "idle_minuts"),
        ("project = \n", "invalid TOML"),
        ("rules = 3\n", r"rules must be a table \(\[rules\]"),
    ],
)
def test_bad_config_says_where_and_what(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.toml", 'project = "a"\nzone = "x\n')
    with pytest.raises(ConfigError, match=r"line \d"):
        load_config(path)


def test_project_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gcloud = tmp_path / "gcloud"
    write(gcloud / "active_config", "work\n")
    write(gcloud / "configurations" / "config_work", "[core]\nproject = from-gcloud\n")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(gcloud))
    assert gcloud_project() == "from-gcloud"
    assert resolve_project(None, Config()) == ("from-gcloud", "gcloud config")
    assert resolve_project(None, Config(project="cfg", source="f.toml")) == ("cfg", "f.toml")
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "env-sdk")
    assert resolve_project(None, Config(project="cfg")) == ("env-sdk", "CLOUDSDK_CORE_PROJECT")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-google")
    assert resolve_project(None, Config())[0] == "env-google"
    assert resolve_project("cli", Config()) == ("cli", "--project")


def test_no_project_anywhere() -> None:
    assert resolve_project(None, Config()) == (None, "")
