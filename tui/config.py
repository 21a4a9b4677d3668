"""cloudpane's settings: a TOML file in the XDG config directory, and project resolution.

~/.config/cloudpane/config.toml    (CLOUDPANE_CONFIG_DIR overrides the folder)

project = "my-project"          # default project
region = "us-central1"
zone = "us-central1-a"
read_only = false
laptop_price = 1500             # buy-or-rent comparison, in USD
monthly_budget = 100            # USD; the turn-off rules warn above it
hook = "notify-send cloudpane"  # optional command run for each warning/event

[rules]                         # turn-off rules (see README)
idle_cpu_percent = 5
idle_minutes = 30

[profiles.work]                 # named profiles: cloudpane --profile work
project = "team-prod"
read_only = true
"""

from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.services.policy import Rules
    from tui.services.pricing import CostSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class ConfigError(Exception):
    """The config file is unreadable or holds a wrong value; the message says where."""


def config_dir() -> Path:
    override = os.environ.get("CLOUDPANE_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir("cloudpane"))


def cache_dir() -> Path:
    override = os.environ.get("CLOUDPANE_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("cloudpane"))


def config_path() -> Path:
    return config_dir() / "config.toml"


@dataclass(frozen=True)
class Config:
    project: str | None = None
    region: str = "us-central1"
    zone: str = "us-central1-a"
    read_only: bool = False
    hook: str | None = None
    refresh_seconds: float = 5.0
    rules: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "defaults"  # where it was read from, for messages

    def with_profile(self, name: str) -> Config:
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none defined"
            raise ConfigError(f"{self.source}: no profile named {name!r} (profiles: {known})")
        return _apply(self, self.profiles[name], f"{self.source} [profiles.{name}]")

    def turn_off_rules(self) -> Rules:
        from tui.services.policy import Rules

        return Rules.from_mapping(self.rules)

    def cost_settings(self) -> CostSettings:
        from tui.services.pricing import CostSettings

        return CostSettings.from_mapping(self.costs)


_SCALARS: dict[str, tuple[type, ...]] = {
    "project": (str,),
    "region": (str,),
    "zone": (str,),
    "read_only": (bool,),
    "hook": (str,),
    "refresh_seconds": (int, float),
}


def _apply(base: Config, data: dict[str, Any], where: str) -> Config:
    changes: dict[str, Any] = {}
    known = {f.name for f in fields(Config)} - {"source"}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(
                f"{where}: unknown setting {key!r}. Known settings: {', '.join(sorted(known))}."
            )
        if key in _SCALARS:
            types = _SCALARS[key]
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                wanted = " or ".join(t.__name__ for t in types)
                raise ConfigError(f"{where}: {key} must be a {wanted}, not {value!r}.")
            if key == "refresh_seconds" and isinstance(value, int | float) and value <= 0:
                raise ConfigError(f"{where}: {key} must be positive, not {value!r}.")
            changes[key] = float(value) if isinstance(value, int) and float in types else value
        elif key in ("rules", "costs", "profiles"):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}: [{key}] must be a table.")
            changes[key] = value
    config = replace(base, **changes)
    from tui.services.errors import InvalidArgument

    try:  # validate the sections now, so a typo is reported at start with the file's name
        config.turn_off_rules()
        config.cost_settings()
    except InvalidArgument as exc:
        raise ConfigError(f"{where}: {exc.message}") from exc
    return config


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror}).") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the config file is not UTF-8 text.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    config = _apply(Config(source=str(path)), data, str(path))
    for name, profile in config.profiles.items():
        if not isinstance(profile, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table.")
    return config


def gcloud_project() -> str | None:
    """The project of the active gcloud configuration, read from its files (no subprocess)."""
    root = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    try:
        active = (root / "active_config").read_text().strip() or "default"
    except OSError:
        active = "default"
    parser = configparser.ConfigParser()
    try:
        parser.read(root / "configurations" / f"config_{active}")
    except configparser.Error:
        return None
    return parser.get("core", "project", fallback=None) or None


def resolve_project(cli_project: str | None, config: Config) -> tuple[str | None, str]:
    """The project to manage and where it came from, in the documented order."""
    if cli_project:
        return cli_project, "--project"
    for var in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        if os.environ.get(var):
            return os.environ[var], var
    if config.project:
        return config.project, config.source
    found = gcloud_project()
    if found:
        return found, "gcloud config"
    return None, ""
