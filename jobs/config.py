"""The schedule: built-in defaults, overridden by a TOML file, overridden by environment variables.

```toml
[jobs.snapshot_catalog]      # durations: "90s", "15m", "1h", "1d", "1h30m", or a number of seconds
every = "1h"
jitter = "5m"
misfire_grace = "15m"

[jobs.snapshot_providers]
cron = "17 4 * * *"          # a crontab line (UTC) instead of `every`

[jobs.prune_raw]
keep_days = 30

[jobs.checkpoint]
enabled = false
```

Environment variables override single keys: ``CATALOG_JOB_SNAPSHOT_CATALOG_EVERY=30m``,
``CATALOG_JOB_PRUNE_RAW_KEEP_DAYS=7``, ``CATALOG_JOB_CHECKPOINT_ENABLED=false``. An unknown job, key or
variable is an error that names it, so a typo never silently leaves the default in place.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from catalog.errors import ConfigError
from catalog.times import duration_seconds

DEFAULT_HOST = "127.0.0.1"  # where `catalog up` serves unless told otherwise
DEFAULT_PORT = 8000

ENV_PREFIX = "CATALOG_JOB_"
COMMON_KEYS = ("enabled", "every", "cron", "jitter", "misfire_grace")
# Job-specific options and their defaults.
OPTION_DEFAULTS: dict[str, dict[str, int]] = {"prune_raw": {"keep_days": 30}}
SOURCES = ("openrouter", "replay")
MAX_DURATION = 366 * 86400


def parse_duration(value: Any, what: str) -> float:
    """Seconds from ``"90s"``, ``"15m"``, ``"1h30m"``, ``"1d"`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(f'{what} = {value!r} is not a duration; write e.g. "15m", "1h" or 900')
    seconds = float(value) if isinstance(value, int | float) else duration_seconds(str(value))
    if seconds is None:
        raise ConfigError(f'{what} = {value!r} is not a duration; write e.g. "90s", "15m", "1h30m", "1d" or 900')
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_DURATION:
        raise ConfigError(f"{what} = {value!r} must be a duration from 0 seconds to 366 days")
    return seconds


def describe_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:.3g}s"


class GridIntervalTrigger(IntervalTrigger):
    """An interval trigger whose runs stay on the grid ``start + k·interval`` (plus up to ``jitter``).

    APScheduler 3 computes the next run from the previous, already jittered one, so an hourly sweep with
    5 minutes of jitter drifts by 2.5 minutes an hour on average. This one always takes the next grid point
    after the previous run and jitters that.
    """

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        after = now if previous_fire_time is None else max(now, previous_fire_time + timedelta(microseconds=1))
        fire: datetime | None = super().get_next_fire_time(None, after)
        return fire


@dataclass(frozen=True)
class JobSchedule:
    """When one job runs. Exactly one of ``every`` (seconds) and ``cron`` is set."""

    name: str
    enabled: bool = True
    every: float | None = None
    cron: str | None = None
    jitter: float = 0.0
    misfire_grace: float = 600.0
    options: Mapping[str, Any] = field(default_factory=dict)
    # Keys set by a file or the environment (a default jitter shrinks with a shorter interval; a set one stays).
    explicit: frozenset[str] = frozenset()

    def trigger(self) -> BaseTrigger:
        if self.cron is not None:
            trigger = CronTrigger.from_crontab(self.cron, timezone=UTC)
            trigger.jitter = int(self.jitter) or None
            return trigger
        assert self.every is not None
        return GridIntervalTrigger(seconds=self.every, jitter=self.jitter or None, timezone=UTC)

    def interval_seconds(self) -> float:
        """The nominal gap between runs (for a cron line: between its next two fire times)."""
        if self.every is not None:
            return self.every
        trigger = CronTrigger.from_crontab(self.cron or "", timezone=UTC)  # without jitter
        first = trigger.get_next_fire_time(None, datetime.now(UTC))
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        return (second - first).total_seconds() if first and second else 86400.0

    def describe(self) -> str:
        if not self.enabled:
            return "disabled"
        if self.cron is not None:
            return f"cron {self.cron} (UTC)" + (
                f" + up to {describe_duration(self.jitter)} jitter" if self.jitter else ""
            )
        assert self.every is not None
        text = f"every {describe_duration(self.every)}"
        return text + (f" + up to {describe_duration(self.jitter)} jitter" if self.jitter else "")

    def option(self, key: str) -> Any:
        return self.options.get(key, OPTION_DEFAULTS.get(self.name, {}).get(key))


def default_schedules(source: str) -> dict[str, JobSchedule]:
    """The built-in schedule. Replaying recorded days ticks every minute, and the replayed days carry their own
    providers, so the separate providers job is off (it would stamp "now" between recorded days)."""
    replaying = source == "replay"
    return {
        "snapshot_catalog": JobSchedule(
            "snapshot_catalog",
            every=60 if replaying else 3600,
            jitter=0 if replaying else 300,
            misfire_grace=60 if replaying else 900,
        ),
        "snapshot_providers": JobSchedule(
            "snapshot_providers", enabled=not replaying, every=86400, jitter=600, misfire_grace=3600
        ),
        "prune_raw": JobSchedule("prune_raw", every=86400, misfire_grace=3600),
        "checkpoint": JobSchedule("checkpoint", every=86400, misfire_grace=3600),
        # Daily, and queued after every sweep that stored a snapshot (see jobs.scheduler).
        "build_site": JobSchedule("build_site", every=86400, misfire_grace=3600),
    }


def _bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{what} = {value!r} is not true or false")


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{what} = {value!r} is not a whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{what} = {value!r} is not a whole number; write e.g. 30") from None
    if number < 0:
        raise ConfigError(f"{what} = {value!r} must be 0 or more")
    return number


def _apply(schedule: JobSchedule, key: str, value: Any, what: str) -> JobSchedule:
    schedule = replace(schedule, explicit=schedule.explicit | {key})
    if key == "enabled":
        return replace(schedule, enabled=_bool(value, what))
    if key == "every":
        every = parse_duration(value, what)
        if every < 1:
            raise ConfigError(f"{what} = {value!r} is too short; jobs run at most once a second")
        jitter = schedule.jitter if "jitter" in schedule.explicit else min(schedule.jitter, float(int(every // 10)))
        return replace(schedule, every=every, cron=None, jitter=jitter)
    if key == "cron":
        text = str(value).strip()
        try:
            CronTrigger.from_crontab(text, timezone=UTC)
        except ValueError as exc:
            raise ConfigError(f'{what} = {value!r} is not a crontab line ({exc}); write e.g. "17 4 * * *"') from None
        return replace(schedule, cron=text, every=None)
    if key == "jitter":
        return replace(schedule, jitter=parse_duration(value, what))
    if key == "misfire_grace":
        return replace(schedule, misfire_grace=parse_duration(value, what))
    if key in OPTION_DEFAULTS.get(schedule.name, {}):
        return replace(schedule, options={**schedule.options, key: _whole(value, what)})
    allowed = [*COMMON_KEYS, *OPTION_DEFAULTS.get(schedule.name, {})]
    raise ConfigError(f"{what}: unknown setting {key!r} for job {schedule.name}; use one of {', '.join(allowed)}")


def _check(schedule: JobSchedule, origin: str) -> None:
    if schedule.every is not None and schedule.jitter >= schedule.every:
        raise ConfigError(
            f"{origin}: jitter {describe_duration(schedule.jitter)} of {schedule.name} must be shorter than its "
            f"interval {describe_duration(schedule.every)}"
        )


@dataclass(frozen=True)
class ServiceConfig:
    """The whole configuration of ``catalog up``: where it listens, what it sweeps, when each job runs."""

    jobs: dict[str, JobSchedule]
    host: str | None = None
    port: int | None = None
    source: str | None = None
    origin: str = "built-in defaults"

    def enabled(self) -> list[JobSchedule]:
        return [s for s in self.jobs.values() if s.enabled]

    def intervals(self) -> dict[str, float | None]:
        return {name: (s.interval_seconds() if s.enabled else None) for name, s in self.jobs.items()}

    def stale_after(self, env: Mapping[str, str] | None = None) -> float | None:
        """When the API calls the data stale: twice the catalog sweep's interval; ``None`` (the package rule,
        ``catalog.settings.stale_after``) when ``CATALOG_STALE_AFTER`` is set or the sweep is disabled."""
        sweep = self.jobs.get("snapshot_catalog")
        if (env if env is not None else os.environ).get("CATALOG_STALE_AFTER") or sweep is None or not sweep.enabled:
            return None
        return 2 * sweep.interval_seconds()


def config_path(explicit: str | os.PathLike[str] | None, env: Mapping[str, str] | None = None) -> Path | None:
    raw = explicit or (env if env is not None else os.environ).get("CATALOG_CONFIG")
    return Path(raw).expanduser() if raw else None


def load_config(
    path: Path | None = None, *, source: str | None = None, env: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Defaults for the source, then the TOML file, then ``CATALOG_JOB_*`` variables."""
    environ = os.environ if env is None else env
    raw: dict[str, Any] = {}
    origins = []
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist; fix --config / CATALOG_CONFIG") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except RecursionError:  # tomllib recurses once per nested array or table
            raise ConfigError(f"config file {path} is nested too deeply to be a config; fix it") from None
        origins.append(str(path))
    unknown_tables = set(raw) - {"jobs", "service"}
    if unknown_tables:
        raise ConfigError(f"{path}: unknown table(s) {sorted(unknown_tables)}; use [jobs.NAME] and [service]")
    service = raw.get("service", {})
    if not isinstance(service, dict):
        raise ConfigError(f"{path}: [service] must be a table")
    unknown_service = set(service) - {"host", "port", "source"}
    if unknown_service:
        raise ConfigError(f"{path}: unknown [service] key(s) {sorted(unknown_service)}; use host, port, source")
    chosen_source = source or service.get("source") or "openrouter"
    if chosen_source not in SOURCES:
        raise ConfigError(f"source {chosen_source!r} is not one of {', '.join(SOURCES)}")
    port = service.get("port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535):
        raise ConfigError(f"{path}: [service] port = {port!r} must be a whole number from 0 to 65535")
    host = service.get("host")
    if host is not None and not isinstance(host, str):
        raise ConfigError(f"{path}: [service] host = {host!r} must be a string")

    schedules = default_schedules(chosen_source)
    tables = raw.get("jobs", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{path}: [jobs] must hold one table per job, e.g. [jobs.snapshot_catalog]")
    for name, settings in tables.items():
        if name not in schedules:
            raise ConfigError(f"{path}: unknown job [jobs.{name}]; the jobs are {', '.join(schedules)}")
        if not isinstance(settings, dict):
            raise ConfigError(f"{path}: [jobs.{name}] must be a table of settings")
        if "every" in settings and "cron" in settings:
            raise ConfigError(f"{path}: [jobs.{name}] sets both every and cron; keep one")
        for key, value in settings.items():
            schedules[name] = _apply(schedules[name], key, value, f"{path} [jobs.{name}] {key}")
        _check(schedules[name], str(path))

    names_longest_first = sorted(schedules, key=len, reverse=True)
    touched = set()
    for variable in sorted(k for k in environ if k.startswith(ENV_PREFIX)):
        rest = variable[len(ENV_PREFIX) :].lower()
        name = next((n for n in names_longest_first if rest.startswith(n + "_")), None)
        if name is None:
            raise ConfigError(
                f"environment variable {variable}: no such job; use CATALOG_JOB_<JOB>_<SETTING> with JOB one of "
                f"{', '.join(n.upper() for n in schedules)}"
            )
        key = rest[len(name) + 1 :]
        if key in ("every", "cron") and {"every", "cron"} <= {
            k[len(ENV_PREFIX) + len(name) + 1 :].lower()
            for k in environ
            if k.lower().startswith(f"{ENV_PREFIX.lower()}{name}_")
        }:
            raise ConfigError(f"environment: both {ENV_PREFIX}{name.upper()}_EVERY and _CRON are set; keep one")
        schedules[name] = _apply(schedules[name], key, environ[variable], f"environment variable {variable}")
        touched.add(name)
        origins.append(variable)
    for name in touched:
        _check(schedules[name], "environment")
    return ServiceConfig(
        jobs=schedules,
        host=host,
        port=port,
        source=chosen_source,
        origin=", ".join(origins) if origins else "built-in defaults",
    )
