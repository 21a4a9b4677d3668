"""cloudpane's settings: a TOML file in the XDG config directory, and project resolution.

~/.config/cloudpane/config.toml    (CLOUDPANE_CONFIG_DIR overrides the folder)

project = "my-project"          # default project
region = "us-central1"
zone = "us-central1-a"
read_only = false
laptop_price = 1500             # buy-or-rent comparison, in USD
monthly_budget = 100            # USD; the turn-off rules warn above it
hook = "notify-send cloudpane"  # optional command run for each warning/event
log_reads_per_minute = 20       # Cloud Logging reads for following job logs (quota: 60/project)

[rules]                         # turn-off rules (see README)
idle_cpu_percent = 5
idle_minutes = 30

[profiles.work]                 # named profiles: cloudpane --profile work
project = "team-prod"
read_only = true
"""

from __future__ import annotations

import configparser
import contextlib
import difflib
import os
import re
import sys
from collections.abc import Callable
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


def state_dir() -> Path:
    """Where cloudpane keeps what it must not lose but is not config: the audit trail, its log."""
    override = os.environ.get("CLOUDPANE_STATE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_state_dir("cloudpane"))


def private_dir(path: Path) -> Path:
    """Create `path` for cloudpane's own files: only its owner may enter it (0700).

    The audit trail, the log and the caches say what the user manages and how; on a shared
    login host nobody else should read them. An existing folder with wider modes is narrowed.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    return path


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
    # entries.list requests a minute this process may send to follow job logs. Cloud Logging
    # allows 60 a minute per project, shared by every reader (docs/gcp-facts.md).
    log_reads_per_minute: float = 20.0
    rules: dict[str, Any] = field(default_factory=dict)
    costs: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "defaults"  # where it was read from, for messages
    # the settings the config file (or profile) wrote down: a default region is not a choice
    set_keys: frozenset[str] = frozenset()
    location_source: str = "default"  # where region and zone came from (resolve_location)

    def with_profile(self, name: str) -> Config:
        if name not in self.profiles:
            where = config_path() if self.source == "defaults" else self.source
            if not self.profiles:
                raise ConfigError(
                    f"no profile named {name!r}: {where} defines no profiles. "
                    f"Add a [profiles.{name}] table to it, or leave out --profile."
                )
            known = ", ".join(sorted(self.profiles))
            close = difflib.get_close_matches(name, list(self.profiles), n=1)
            also = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"{where}: no profile named {name!r} (profiles: {known}).{also}")
        return _apply(self, self.profiles[name], f"{self.source} [profiles.{name}]")

    def turn_off_rules(self) -> Rules:
        from tui.services.policy import Rules

        return Rules.from_mapping(self.rules)

    def cost_settings(self) -> CostSettings:
        from tui.services.pricing import CostSettings

        return CostSettings.from_mapping(self.costs)


# Zones and regions as Google names them: us-central1-a, europe-west4, northamerica-northeast1-b.
REGION_PATTERN = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+$")
ZONE_PATTERN = re.compile(r"^[a-z]+(?:-[a-z]+)+[0-9]+-[a-z]$")


def check_region(value: str) -> str | None:
    """None if `value` looks like a region name, else why not (no API call: works offline)."""
    if REGION_PATTERN.match(value):
        return None
    if ZONE_PATTERN.match(value):
        return f"{value!r} is a zone, not a region; the region is {value.rsplit('-', 1)[0]!r}."
    return f"{value!r} is not a region name (like us-central1 or europe-west4)."


def check_zone(value: str) -> str | None:
    """None if `value` looks like a zone name, else why not (no API call: works offline)."""
    if ZONE_PATTERN.match(value):
        return None
    if REGION_PATTERN.match(value):
        return f"{value!r} is a region, not a zone; add the zone letter, e.g. {value + '-a'!r}."
    return f"{value!r} is not a zone name (like us-central1-a or europe-west4-b)."


_TYPE_WORDS = {bool: "true or false", str: "a string in quotes", int: "a number"}

_SCALARS: dict[str, tuple[type, ...]] = {
    "project": (str,),
    "region": (str,),
    "zone": (str,),
    "read_only": (bool,),
    "hook": (str,),
    "refresh_seconds": (int, float),
    "log_reads_per_minute": (int, float),
}


def _no_line(key: str, table: str | None = None) -> int | None:
    return None


def _apply(
    base: Config,
    data: dict[str, Any],
    where: str,
    line_of: Callable[[str, str | None], int | None] = _no_line,
) -> Config:
    changes: dict[str, Any] = {}
    known = {f.name for f in fields(Config)} - {"source", "set_keys", "location_source"}

    def at(key: str, table: str | None = None) -> str:
        line = line_of(key, table)
        if line is None:
            return where
        # "file.toml:3" or "file.toml:3 [profiles.work]": the line first, as compilers do.
        path, _, table = where.partition(" [")
        return f"{path}:{line}" + (f" [{table}" if table else "")

    for key, value in data.items():
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            also = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"{at(key)}: unknown setting {key!r}.{also} "
                f"Known settings: {', '.join(sorted(known))}."
            )
        if key in _SCALARS:
            types = _SCALARS[key]
            if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                wanted = _TYPE_WORDS.get(types[0], types[0].__name__)
                raise ConfigError(f"{at(key)}: {key} must be {wanted}, not {value!r}.")
            if key == "refresh_seconds" and isinstance(value, int | float) and value <= 0:
                raise ConfigError(f"{at(key)}: {key} must be more than 0 seconds, not {value!r}.")
            if (
                key == "log_reads_per_minute"
                and isinstance(value, int | float)
                and not 0 < value <= 60
            ):
                raise ConfigError(
                    f"{at(key)}: {key} must be more than 0 and at most 60 (Cloud Logging "
                    f"allows 60 reads a minute per project), not {value!r}."
                )
            check = {"region": check_region, "zone": check_zone}.get(key)
            problem = check(value) if check and isinstance(value, str) else None
            if problem:
                raise ConfigError(f"{at(key)}: {key}: {problem}")
            changes[key] = float(value) if isinstance(value, int) and float in types else value
        elif key in ("rules", "costs", "profiles"):
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{at(key)}: {key} must be a table ([{key}] with settings below it), "
                    f"not {value!r}."
                )
            changes[key] = value
    config = replace(base, **changes, set_keys=base.set_keys | set(changes))
    from tui.services.errors import InvalidArgument

    try:  # validate the sections now, so a typo is reported at start with the file's name
        config.turn_off_rules()
        config.cost_settings()
    except InvalidArgument as exc:
        # "rules.idle_minutes must be …": point at that line of the [rules] table.
        named = re.match(r"(rules|costs)\.(\w+)", exc.message)
        place = at(named.group(2), named.group(1)) if named else where
        raise ConfigError(f"{place}: {exc.message}") from exc
    return config


def _line_finder(text: str, table: str = "") -> Callable[[str, str | None], int | None]:
    """The line where `key = …` (or `[key]`) is written in `table` ("" = the top level).

    tomllib reports lines only for syntax errors; a wrong *value* deserves its line too.
    """
    lines = text.splitlines()

    def line_of(key: str, in_table: str | None = None) -> int | None:
        wanted = table if in_table is None else (f"{table}.{in_table}" if table else in_table)
        current = ""
        assign = re.compile(rf"[\"']?{re.escape(key)}[\"']?\s*=")
        for number, line in enumerate(lines, start=1):
            heading = re.match(r"\[+\s*([^\]]+?)\s*\]+", line.strip())
            if heading:
                current = heading.group(1).strip()
                if wanted == "" and (current == key or current.startswith(key + ".")):
                    return number  # [rules], [profiles.work]: a table's line is its header
                continue
            if current == wanted and assign.match(line.strip()):
                return number
        return None

    return line_of


def load_config(path: Path | None = None) -> Config:
    """Read the config file; a missing file gives the defaults."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; --config takes the config file itself.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file ({exc.strerror}).") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: the config file is not UTF-8 text.") from exc
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "Invalid value (at line 3, column 8)": put the place first.
        place = re.search(r"\(at (line \d+, column \d+)\)", str(exc))
        where = f" at {place.group(1)}" if place else ""
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise ConfigError(
            f"{path}: invalid TOML{where}: {reason}. Strings need quotes "
            '(zone = "us-central1-a"); see Configuration in the README.'
        ) from exc
    text = raw.decode("utf-8")
    config = _apply(Config(source=str(path)), data, str(path), _line_finder(text))
    for name, profile in config.profiles.items():
        if not isinstance(profile, dict):
            raise ConfigError(f"{path}: [profiles.{name}] must be a table.")
        _apply(config, profile, f"{path} [profiles.{name}]", _line_finder(text, f"profiles.{name}"))
    return config


def gcloud_properties() -> dict[str, str]:
    """The active gcloud configuration's properties ("core/project", "compute/zone", …).

    Read from its files, as gcloud does (no subprocess): $CLOUDSDK_CONFIG (default
    ~/.config/gcloud), the configuration named by $CLOUDSDK_ACTIVE_CONFIG_NAME or the
    `active_config` file (else "default"), `configurations/config_NAME` (INI sections).
    """
    root = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    active = os.environ.get("CLOUDSDK_ACTIVE_CONFIG_NAME", "").strip()
    if not active:
        try:
            active = (root / "active_config").read_text().strip() or "default"
        except OSError:
            active = "default"
    parser = configparser.RawConfigParser()
    try:
        parser.read(root / "configurations" / f"config_{active}")
    except (configparser.Error, UnicodeDecodeError):
        return {}
    return {
        f"{section}/{key}": value.strip()
        for section in parser.sections()
        for key, value in parser.items(section)
        if value.strip()
    }


def gcloud_project() -> str | None:
    """The project of the active gcloud configuration (`gcloud config set project`)."""
    return gcloud_properties().get("core/project")


# Regions whose zones do not start at "-a" (Compute Engine's zone list: us-east1-b/c/d,
# europe-west1-b/c/d); a region named without a zone gets its first zone.
FIRST_ZONE = {"us-east1": "us-east1-b", "europe-west1": "europe-west1-b"}


def resolve_location(
    config: Config, flag_region: str | None = None, flag_zone: str | None = None
) -> Config:
    """Region and zone in the documented order: flag > environment > cloudpane config >
    gcloud's active configuration > default (us-central1 / us-central1-a).

    The environment is gcloud's own: CLOUDSDK_COMPUTE_REGION, CLOUDSDK_COMPUTE_ZONE; gcloud's
    configuration gives `compute/region` and `compute/zone`. A zone fixes its region; a region
    named by a stronger source than the zone wins, and a zone outside it is not used.
    """
    gcloud = gcloud_properties()
    sources: list[tuple[str, str | None, str | None]] = [
        ("--region/--zone", flag_region, flag_zone),
        (
            "CLOUDSDK_COMPUTE_REGION/ZONE",
            os.environ.get("CLOUDSDK_COMPUTE_REGION") or None,
            os.environ.get("CLOUDSDK_COMPUTE_ZONE") or None,
        ),
        (
            config.source,
            config.region if "region" in config.set_keys else None,
            config.zone if "zone" in config.set_keys else None,
        ),
        ("gcloud config", gcloud.get("compute/region"), gcloud.get("compute/zone")),
    ]
    names = {
        "--region/--zone": ("--region", "--zone"),
        "CLOUDSDK_COMPUTE_REGION/ZONE": ("CLOUDSDK_COMPUTE_REGION", "CLOUDSDK_COMPUTE_ZONE"),
        "gcloud config": ("gcloud config compute/region", "gcloud config compute/zone"),
    }
    region = zone = None
    region_from = zone_from = ""
    for where, src_region, src_zone in sources:
        region_name, zone_name = names.get(where, (f"{where}: region", f"{where}: zone"))
        for value, label, check in (
            (src_region, region_name, check_region),
            (src_zone, zone_name, check_zone),
        ):
            problem = check(value) if value else None
            if problem:
                raise ConfigError(f"{label}: {problem}")
        if src_zone and zone is None:
            in_region = region is None or src_zone.rsplit("-", 1)[0] == region
            if in_region:
                zone, zone_from = src_zone, where
        if src_region and region is None:
            if zone is not None and zone.rsplit("-", 1)[0] != src_region:
                continue  # a stronger source chose a zone elsewhere: its region stands
            region, region_from = src_region, where
    if zone is not None and region is None:
        region, region_from = zone.rsplit("-", 1)[0], zone_from
    if region is None:
        return replace(config, region=Config.region, zone=Config.zone, location_source="default")
    if zone is None:
        zone = Config.zone if region == Config.region else FIRST_ZONE.get(region, f"{region}-a")
        zone_from = "default"
    source = (
        region_from if region_from == zone_from else f"region: {region_from}, zone: {zone_from}"
    )
    return replace(config, region=region, zone=zone, location_source=source)


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
