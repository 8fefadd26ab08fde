"""The service's schedule: built-in defaults, then a TOML file, then ``CATALOG_JOB_*`` variables.

Every test passes ``env`` explicitly, so the machine's environment never leaks in; files go to ``tmp_path``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalog.errors import ConfigError
from catalog.settings import PROJECT_ROOT
from jobs.config import ServiceConfig, load_config, parse_duration

NOON = datetime(2026, 7, 17, 12, tzinfo=UTC)


def load(tmp_path: Path, text: str | None = None, *, env: dict[str, str] | None = None, **kw: str) -> ServiceConfig:
    path = None
    if text is not None:
        path = tmp_path / "catalog.toml"
        path.write_text(text, encoding="utf-8")
    return load_config(path, env=env or {}, **kw)


def refused(tmp_path: Path, text: str | None = None, *, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, env=env)
    return str(caught.value)


# --- defaults ------------------------------------------------------------------------------------------------


def test_defaults_for_openrouter() -> None:
    config = load_config(None, env={})
    jobs = config.jobs
    assert set(jobs) == {"snapshot_catalog", "snapshot_providers", "prune_raw", "checkpoint", "build_site"}
    assert jobs["build_site"].enabled and jobs["build_site"].describe() == "every 1d"
    assert (jobs["snapshot_catalog"].every, jobs["snapshot_catalog"].jitter) == (3600, 300)
    assert jobs["snapshot_catalog"].describe() == "every 1h + up to 5m jitter"
    assert jobs["snapshot_providers"].enabled and jobs["snapshot_providers"].every == 86400
    assert jobs["prune_raw"].every == 86400 and jobs["prune_raw"].option("keep_days") == 30
    assert jobs["checkpoint"].enabled and jobs["checkpoint"].describe() == "every 1d"
    assert all(s.cron is None for s in jobs.values())
    assert (config.source, config.host, config.port, config.origin) == ("openrouter", None, None, "built-in defaults")


def test_defaults_for_replay() -> None:
    jobs = load_config(None, source="replay", env={}).jobs
    assert (jobs["snapshot_catalog"].every, jobs["snapshot_catalog"].jitter) == (60, 0)
    assert not jobs["snapshot_providers"].enabled
    assert jobs["snapshot_providers"].describe() == "disabled"
    assert load_config(None, source="replay", env={}).intervals()["snapshot_providers"] is None


# --- a TOML file, then the environment ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("1h30m", 5400), ("1d", 86400), ("1h", 3600), ("900", 900), (900, 900), (1.5, 1.5)],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text, "every") == seconds


def test_file_overrides_durations_cron_enabled_and_service(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [service]
        host = "127.0.0.1"
        port = 8799
        source = "replay"

        [jobs.snapshot_catalog]
        every = "1h30m"
        jitter = "90s"
        misfire_grace = 600

        [jobs.snapshot_providers]
        enabled = true               # off by default when replaying
        cron = "17 4 * * *"

        [jobs.prune_raw]
        every = "1d"
        keep_days = 7

        [jobs.checkpoint]
        enabled = false
        misfire_grace = "15m"
        """,
    )
    jobs = config.jobs
    assert (config.host, config.port, config.source) == ("127.0.0.1", 8799, "replay")
    assert (jobs["snapshot_catalog"].every, jobs["snapshot_catalog"].jitter) == (5400, 90)
    assert jobs["snapshot_catalog"].misfire_grace == 600
    assert jobs["snapshot_providers"].cron == "17 4 * * *" and jobs["snapshot_providers"].every is None
    assert jobs["snapshot_providers"].describe().startswith("cron 17 4 * * *")
    assert jobs["prune_raw"].option("keep_days") == 7
    assert not jobs["checkpoint"].enabled and jobs["checkpoint"].misfire_grace == 900
    assert [s.name for s in config.enabled()] == ["snapshot_catalog", "snapshot_providers", "prune_raw", "build_site"]
    assert str(tmp_path / "catalog.toml") in config.origin


def test_source_argument_beats_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, '[service]\nsource = "replay"\n', source="openrouter")
    assert config.source == "openrouter" and config.jobs["snapshot_catalog"].every == 3600


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    env = {
        "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "30s",
        "CATALOG_JOB_PRUNE_RAW_KEEP_DAYS": "3",
        "CATALOG_JOB_CHECKPOINT_ENABLED": "true",
        "CATALOG_JOB_SNAPSHOT_PROVIDERS_CRON": "0 5 * * *",
    }
    text = (
        '[jobs.snapshot_catalog]\nevery = "2h"\n[jobs.prune_raw]\nkeep_days = 9\n[jobs.checkpoint]\nenabled = false\n'
    )
    config = load(tmp_path, text, env=env)
    jobs = config.jobs
    assert jobs["snapshot_catalog"].every == 30
    assert jobs["prune_raw"].option("keep_days") == 3
    assert jobs["checkpoint"].enabled
    assert jobs["snapshot_providers"].cron == "0 5 * * *" and jobs["snapshot_providers"].every is None
    assert "CATALOG_JOB_PRUNE_RAW_KEEP_DAYS" in config.origin


def test_a_shorter_interval_shrinks_the_default_jitter(tmp_path: Path) -> None:
    schedule = load(tmp_path, env={"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "30s"}).jobs["snapshot_catalog"]
    assert schedule.every == 30
    assert 0 <= schedule.jitter < schedule.every  # the default 5 m would have swallowed the interval


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ('[jobs.snapshot_catalog]\njitter = "5m"\n', {"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "30s"}),
        (None, {"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "30s", "CATALOG_JOB_SNAPSHOT_CATALOG_JITTER": "30s"}),
        ('[jobs.snapshot_catalog]\nevery = "1m"\njitter = "2m"\n', {}),
    ],
)
def test_an_explicit_jitter_not_below_the_interval_is_refused(
    tmp_path: Path, text: str | None, env: dict[str, str]
) -> None:
    message = refused(tmp_path, text, env=env)
    assert "jitter" in message and "snapshot_catalog" in message and "shorter than its interval" in message


# --- errors name what is wrong -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[schedule]\nevery = 1\n", "['schedule']"),
        ("[jobs.snapshot_catalogue]\nevery = 60\n", "[jobs.snapshot_catalogue]"),
        ("[jobs.prune_raw]\nkeepdays = 7\n", "'keepdays'"),
        ("[service]\nlisten = 1\n", "['listen']"),
        ('[jobs.snapshot_catalog]\nevery = "soon"\n', "'soon'"),
        ('[jobs.snapshot_catalog]\njitter = "5 minutes"\n', "'5 minutes'"),
        ('[jobs.snapshot_catalog]\ncron = "61 * * * *"\n', "'61 * * * *'"),
        ('[jobs.snapshot_catalog]\ncron = "17 4 * *"\n', "'17 4 * *'"),
        ('[jobs.snapshot_catalog]\nevery = "1h"\ncron = "17 4 * * *"\n', "both every and cron"),
        ("[jobs.snapshot_catalog\nevery = 1\n", "not valid TOML"),
        ("[service]\nport = 70000\n", "port = 70000"),
        ('[service]\nport = "8080"\n', "port = '8080'"),
        ('[service]\nsource = "nowhere"\n', "'nowhere'"),
        ('[jobs.snapshot_catalog]\nevery = "0.5s"\n', "'0.5s' is too short"),
        ("[jobs.snapshot_catalog]\nevery = 0\n", "every = 0 is too short"),
        ("[jobs.prune_raw]\nkeep_days = -1\n", "keep_days = -1"),
        ('[jobs.checkpoint]\nenabled = "maybe"\n', "enabled = 'maybe'"),
    ],
)
def test_file_errors_name_the_offender(tmp_path: Path, text: str, named: str) -> None:
    assert named in refused(tmp_path, text)


def test_the_file_path_is_named_when_it_is_wrong(tmp_path: Path) -> None:
    assert str(tmp_path / "catalog.toml") in refused(tmp_path, "[jobs.prune_raw]\nkeep_days = -1\n")
    missing = tmp_path / "absent.toml"
    with pytest.raises(ConfigError, match=r"absent\.toml does not exist"):
        load_config(missing, env={})


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("CATALOG_JOB_SNAPSHOT_CATALOGUE_EVERY", "30s", "CATALOG_JOB_SNAPSHOT_CATALOGUE_EVERY: no such job"),
        ("CATALOG_JOB_PRUNE_RAW_KEEP", "3", "unknown setting 'keep'"),
        ("CATALOG_JOB_SNAPSHOT_CATALOG_EVERY", "soon", "CATALOG_JOB_SNAPSHOT_CATALOG_EVERY = 'soon'"),
        ("CATALOG_JOB_SNAPSHOT_CATALOG_CRON", "every day", "'every day' is not a crontab line"),
        ("CATALOG_JOB_PRUNE_RAW_KEEP_DAYS", "-2", "KEEP_DAYS = '-2'"),
        ("CATALOG_JOB_CHECKPOINT_ENABLED", "perhaps", "'perhaps' is not true or false"),
    ],
)
def test_environment_errors_name_the_variable(tmp_path: Path, variable: str, value: str, named: str) -> None:
    assert named in refused(tmp_path, env={variable: value})


# --- triggers ----------------------------------------------------------------------------------------------


def test_cron_interval_and_every_trigger(tmp_path: Path) -> None:
    text = '[jobs.snapshot_providers]\ncron = "0 */6 * * *"\njitter = 0\n[jobs.prune_raw]\nevery = "90s"\n'
    jobs = load(tmp_path, text).jobs
    assert jobs["snapshot_providers"].interval_seconds() == 21600
    cron = jobs["snapshot_providers"].trigger()
    fire = cron.get_next_fire_time(None, NOON)
    assert fire == datetime(2026, 7, 17, 12, tzinfo=UTC)
    assert cron.get_next_fire_time(fire, fire + timedelta(seconds=1)) == datetime(2026, 7, 17, 18, tzinfo=UTC)

    prune = jobs["prune_raw"]
    assert prune.interval_seconds() == 90 and prune.jitter == 0
    trigger = prune.trigger()
    first = trigger.get_next_fire_time(None, datetime.now(UTC))
    assert first is not None
    second = trigger.get_next_fire_time(first, first)
    third = trigger.get_next_fire_time(second, second)
    assert second - first == third - second == timedelta(seconds=90)


def test_every_trigger_stays_within_its_jitter(tmp_path: Path) -> None:
    schedule = load(tmp_path, '[jobs.snapshot_catalog]\nevery = "10m"\njitter = "1m"\n').jobs["snapshot_catalog"]
    trigger = schedule.trigger()
    previous = trigger.get_next_fire_time(None, datetime.now(UTC))
    assert previous is not None
    for _ in range(20):
        fire = trigger.get_next_fire_time(previous, previous)
        assert abs((fire - previous).total_seconds() - 600) <= 60
        previous = fire


# --- the README's example ----------------------------------------------------------------------------------


def test_the_readme_config_example_loads(tmp_path: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- config:start -->" in readme and "<!-- config:end -->" in readme, "README lacks the config example"
    section = readme.split("<!-- config:start -->", 1)[1].split("<!-- config:end -->", 1)[0]
    blocks = re.findall(r"```toml\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "expected one ```toml block between the config markers"
    config = load(tmp_path, blocks[0])
    assert set(config.jobs) == {"snapshot_catalog", "snapshot_providers", "prune_raw", "checkpoint", "build_site"}
    assert "[jobs." in blocks[0]  # the example shows at least one job table


@pytest.mark.parametrize("key", ["every", "misfire_grace", "jitter"])
def test_an_endless_duration_is_refused_by_name(tmp_path: Path, key: str) -> None:
    message = refused(tmp_path, f'[jobs.snapshot_catalog]\n{key} = "inf"\n')
    assert key in message and "366 days" in message


def test_every_and_cron_together_in_the_environment_are_refused(tmp_path: Path) -> None:
    env = {"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "30m", "CATALOG_JOB_SNAPSHOT_CATALOG_CRON": "17 4 * * *"}
    assert "keep one" in refused(tmp_path, env=env)


def test_a_cron_schedule_keeps_its_jitter() -> None:
    config = load_config(None, env={"CATALOG_JOB_SNAPSHOT_PROVIDERS_CRON": "17 4 * * *"})
    schedule = config.jobs["snapshot_providers"]
    assert schedule.trigger().jitter == 600 and "jitter" in schedule.describe()


def test_jitter_never_accumulates_from_run_to_run() -> None:
    schedule = load_config(None, env={}).jobs["snapshot_catalog"]  # every 1 h, up to 5 min of jitter
    trigger = schedule.trigger()
    start = trigger.start_date
    fire = trigger.get_next_fire_time(None, start)
    for k in range(1, 200):
        fire = trigger.get_next_fire_time(fire, fire)
        slot = start + timedelta(hours=k)
        # Each run is within its own slot's jitter window, however many runs came before it.
        assert slot <= fire <= slot + timedelta(minutes=5), (k, fire, slot)
