"""Storage faults: a full disk, another program's file, a damaged or newer file (issue 16, items 11-13).

Every fault ends in one line that names the file and the way out — exit 2 on the CLI, one log line in the
service — and loses nothing. A full disk is a real one where the test runs as root: a small tmpfs of the
test's own (``small_disk``), filled to the brim; elsewhere those tests skip and say why. Faults DuckDB
raises deep inside (a commit that fails after the transaction is gone, a checkpoint that invalidates the
database) are also injected through a connection that fails one statement the way DuckDB does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import Ran, built_once, run_cli, run_process

from catalog.bundle import Bundle
from catalog.errors import StoreDamagedError, StoreWriteError
from catalog.fake import FakeOpenRouter, serve_in_thread
from catalog.replay import bundled_sweep
from catalog.store.db import connect, publish_copy, published_copy
from catalog.store.ingest import record_snapshot
from catalog.store.migrations import APPLICATION_ID, CREATES, MIGRATIONS
from jobs.config import load_config
from jobs.context import JobContext
from jobs.runner import run_job
from jobs.sources import make_source

FIRST_DAY = "2026-07-17"
DEAD = "http://127.0.0.1:9/api/v1"  # nothing listens: a sweep that wrongly runs fails at once, offline
DISK_FULL = 'TransactionContext Error: Failed to commit: Could not write file "{}.wal": No space left on device'


# --- helpers ---------------------------------------------------------------------------------------------


def catalog(*args: str, env: dict[str, str] | None = None) -> Ran | subprocess.CompletedProcess[str]:
    """``catalog ARGS``: in this process, but `up` and `serve` in one of their own (they take over logging
    and signals, and a server that wrongly starts must not hang the test: the timeout fails it)."""
    if args[0] in ("up", "serve"):
        return run_process(*args, env=env, timeout=120)
    return run_cli(*args, env=env)


def one_line(ran: Ran | subprocess.CompletedProcess[str], *, code: int = 2) -> str:
    """The command failed with ``code`` and exactly one line on stderr (no traceback); that line."""
    assert ran.returncode == code, (ran.returncode, ran.stdout, ran.stderr)
    assert "Traceback" not in ran.stderr + ran.stdout
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_count(path: Path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(con.execute("SELECT count(*) FROM snapshots").fetchall()[0][0])
    finally:
        con.close()


class FailingStatement:
    """A DuckDB connection that fails one kind of statement the way DuckDB does, and passes the rest on.

    ``COMMIT`` fails as on a full disk: DuckDB has already ended the transaction when it raises (so a
    ``ROLLBACK`` after it finds none). ``CHECKPOINT`` fails fatally, invalidating nothing real here.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, statement: str, error: Exception) -> None:
        self._con = con
        self._statement = statement
        self._error = error
        self.executed: list[str] = []

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.executed.append(sql)
        if sql.strip().upper().startswith(self._statement):
            if self._statement == "COMMIT":
                self._con.execute("ROLLBACK")
            raise self._error
        return self._con.execute(sql, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


@pytest.fixture(scope="module")
def early_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `catalog up --source replay` loads first (the model-only lists and the first recorded day): a
    service started on it loads nothing more. Built once per run."""

    def make(folder: Path) -> None:
        ran = run_cli("replay", "--direct", "--all", "--to", FIRST_DAY, "--db", str(folder / "h.duckdb"), "--json")
        assert ran.returncode == 0, ran.stderr

    return built_once(tmp_path_factory, "store-faults-early-history", make) / "h.duckdb"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs of this test's own: a disk that really fills up. Needs root (and a kernel that lets
    this container mount one); skips with the reason otherwise."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full disk is a small tmpfs, and mounting one needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill ``disk`` up to ``leave`` bytes free; returns the filler (remove it to make room again)."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    filler = disk / "filler"
    with open(filler, "wb") as out:
        remaining = max(0, free - leave)
        chunk = b"\0" * (1 << 20)
        while remaining > 0:
            remaining -= out.write(chunk[: min(len(chunk), remaining)])
    return filler


# --- 11. a full disk ----------------------------------------------------------------------------------


def test_a_commit_that_fails_reports_its_cause_not_the_rollback_after_it(tmp_path: Path, bundle: Bundle) -> None:
    path = tmp_path / "h.duckdb"
    con = connect(path)
    try:
        failing = FailingStatement(con, "COMMIT", duckdb.TransactionException(DISK_FULL.format(path)))
        with pytest.raises(StoreWriteError) as caught:
            record_snapshot(failing, bundled_sweep(bundle, bundle.snapshots()[0]))  # type: ignore[arg-type]
        message = str(caught.value)
        assert "No space left on device" in message and str(path) in message
        assert "no transaction is active" not in message
        assert "\n" not in message
        assert con.execute("SELECT count(*) FROM snapshots").fetchall() == [(0,)]  # nothing stored
    finally:
        con.close()


def test_sync_on_a_full_disk_fails_with_the_cause_in_one_line_and_stores_nothing(
    small_disk: Path, early_history: Path, bundle: Bundle
) -> None:
    db = small_disk / "h.duckdb"
    shutil.copyfile(early_history, db)
    before = snapshot_count(db)
    filler = fill(small_disk, leave=128 * 1024)  # less than one recorded day's write-ahead log
    with serve_in_thread(FakeOpenRouter(bundle, day="2026-08-05")) as url:
        line = one_line(run_cli("sync", "--base-url", url, "--db", str(db)))
    assert line.startswith(f"error: could not write {db}") and "No space left on device" in line
    assert "no transaction is active" not in line
    assert snapshot_count(db) == before
    filler.unlink()
    assert run_cli("snapshots", "--db", str(db)).returncode == 0  # the file is as it was, and readable


def test_a_job_run_on_a_full_disk_is_logged_failed_with_its_cause(small_disk: Path, early_history: Path) -> None:
    db = small_disk / "h.duckdb"
    shutil.copyfile(early_history, db)
    before = snapshot_count(db)
    fill(small_disk, leave=128 * 1024)
    ran = run_cli("jobs", "run", "snapshot_catalog", "--source", "replay", "--db", str(db))
    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    assert ran.stderr.strip().splitlines()[-1].startswith("snapshot_catalog: failed")
    assert "No space left on device" in ran.stderr and "no transaction is active" not in ran.stderr
    assert snapshot_count(db) == before
    con = connect(db, read_only=True)
    try:  # the failed run is in the run log, with its cause
        runs = con.execute("SELECT status, error_summary FROM job_runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert [status for status, _ in runs] == ["failed"]
    assert "No space left on device" in runs[0][1]


@pytest.mark.service  # starts `catalog up` / `catalog serve` as processes
def test_up_on_a_disk_too_full_to_publish_refuses_in_one_line_leaves_no_temp_files_and_starts_once_there_is_room(
    small_disk: Path, early_history: Path
) -> None:
    from test_service import ONLY_THE_SWEEP, Up

    db = small_disk / "h.duckdb"
    shutil.copyfile(early_history, db)
    before = digest(db)
    filler = fill(small_disk, leave=512 * 1024)  # the copy needs about twice the history's size
    env = {"CATALOG_JOB_SNAPSHOT_CATALOG_EVERY": "1h", **ONLY_THE_SWEEP}
    line = one_line(catalog("up", "--db", str(db), "--port", "0", "--source", "replay", env=env))
    assert "catalog up did not start" in line and "read-only copy" in line and "No space left on device" in line
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler", "h.duckdb"], "temp files left behind"
    assert digest(db) == before
    filler.unlink()  # room again: the next start is healthy
    up = Up(db, env, "--source", "replay")
    try:
        assert up.health().status_code == 200
        assert published_copy(db).exists()
    finally:
        assert up.stop(signal.SIGTERM) == 0, up.output()
    assert "Traceback" not in up.output()


def test_a_failed_publish_removes_its_temp_files_and_the_old_copy_and_the_next_publish_works(tmp_path: Path) -> None:
    path = tmp_path / "h.duckdb"
    con = connect(path)
    try:
        publish_copy(con, path)
        copy = published_copy(path)
        assert copy.exists()
        error = duckdb.IOException(
            "IO Error: Detached database 'catalog_publish', but CHECKPOINT during DETACH failed. \nCheckpoint "
            'failed for database "catalog_publish". Original error: "Could not write file: No space left on device"'
        )

        class FailingDetach(FailingStatement):
            def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
                if sql.startswith("DETACH catalog_publish"):
                    self._con.execute(sql)  # DuckDB detaches, then reports the failed checkpoint
                    raise self._error
                return self._con.execute(sql, *args, **kwargs)

        with pytest.raises(StoreWriteError) as caught:
            publish_copy(FailingDetach(con, "DETACH", error), path)  # type: ignore[arg-type]
        message = str(caught.value)
        assert "\n" not in message and "No space left on device" in message and copy.name in message
        left = sorted(p.name for p in tmp_path.iterdir() if "readonly" in p.name)
        assert left == [], f"temp files or a stale copy left: {left}"
        assert publish_copy(con, path) == copy and copy.exists()  # nothing left attached
    finally:
        con.close()


def _job_context(con: Any, db: Path) -> JobContext:
    config = load_config(None, source="replay")
    return JobContext(con=con, db=db, config=config, source=make_source("replay"), publish=True)


def test_a_checkpoint_that_invalidates_the_database_fails_the_run_in_one_line_and_stops_the_service(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "h.duckdb"
    con = connect(db)
    fatal = duckdb.FatalException(
        'FATAL Error: Failed to create checkpoint because of error: Could not write file "h.duckdb": '
        "No space left on device"
    )
    ctx = _job_context(FailingStatement(con, "CHECKPOINT", fatal), db)
    try:
        with caplog.at_level(logging.INFO):
            run_id, result = run_job(ctx, "checkpoint", trigger="manual")
        assert result.status == "failed" and "No space left on device" in (result.error or "")
        assert ctx.stop.is_set() and ctx.fatal is not None and "start again" in ctx.fatal
        assert "Traceback" not in caplog.text
        row = con.execute("SELECT status, error_summary FROM job_runs WHERE run_id = ?", [run_id]).fetchall()
        assert row[0][0] == "failed" and "No space left on device" in row[0][1]
    finally:
        ctx.source.close()
        con.close()


def test_a_run_the_run_log_cannot_record_is_not_run_and_says_so_in_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "h.duckdb"
    con = connect(db)
    full = duckdb.IOException(f'IO Error: Could not write file "{db}.wal": No space left on device')
    failing = FailingStatement(con, "INSERT INTO JOB_RUNS", full)
    ctx = _job_context(failing, db)
    try:
        with caplog.at_level(logging.INFO):
            run_id, result = run_job(ctx, "checkpoint", trigger="manual")
        assert (run_id, result.status) == (0, "failed")
        assert not any(sql.strip().upper() == "CHECKPOINT" for sql in failing.executed), "the job ran unlogged"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and "\n" not in errors[0].getMessage()
        assert "job_runs" in errors[0].getMessage() and "No space left on device" in errors[0].getMessage()
        assert not ctx.stop.is_set()  # the database is still usable: the service goes on
    finally:
        ctx.source.close()
        con.close()


# --- 12. only our own files, created explicitly -------------------------------------------------------------


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """Another program's DuckDB file, with a table called `snapshots` among others."""
    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE snapshots (id INTEGER, taken VARCHAR)")
    con.execute("CREATE TABLE notes (body VARCHAR)")
    con.execute("INSERT INTO snapshots VALUES (1, 'theirs')")
    con.close()
    return path


@pytest.mark.parametrize(
    "args",
    [
        ("rederive",),
        ("sync", "--base-url", DEAD),
        ("init",),
        ("replay", "--direct", "--to", FIRST_DAY),
        ("models",),
        ("snapshots",),
    ],
)
def test_every_command_refuses_another_programs_file_and_leaves_it_untouched(foreign: Path, args: tuple[str]) -> None:
    before = digest(foreign)
    line = one_line(run_cli(*args, "--db", str(foreign)))
    assert str(foreign) in line and "another program's DuckDB file" in line and "catalog init --db" in line
    assert digest(foreign) == before


@pytest.mark.service  # starts `catalog up` / `catalog serve` as processes
def test_up_refuses_another_programs_file_too(foreign: Path) -> None:
    line = one_line(catalog("up", "--db", str(foreign), "--port", "0", "--source", "replay"))
    assert str(foreign) in line and "another program's" in line


@pytest.mark.parametrize(
    "args",
    [
        ("init",),
        ("sync", "--base-url", DEAD),
        ("replay", "--direct"),
        ("rederive",),
        pytest.param(("up", "--port", "0"), marks=pytest.mark.service),
    ],
)
def test_no_command_creates_the_folders_of_a_db_path(tmp_path: Path, args: tuple[str]) -> None:
    target = tmp_path / "new" / "dir" / "x.duckdb"
    line = one_line(catalog(*args, "--db", str(target)))
    assert "the folder" in line and "does not exist" in line and "mkdir -p" in line
    assert not (tmp_path / "new").exists()


def test_creating_a_file_is_explicit_init_creates_and_upgrades_and_writers_need_a_file(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    for args in (("sync", "--base-url", DEAD), ("rederive",), ("jobs", "run", "checkpoint")):
        line = one_line(run_cli(*args, "--db", str(db)))
        assert f"catalog init --db {db}" in line, line
        assert not db.exists()
    line = one_line(run_cli("models", "--db", str(db)))
    assert "catalog replay" in line and "catalog init" in line and "run any writing command" not in line
    created = run_cli("init", "--db", str(db))
    assert created.returncode == 0 and f"created {db}" in created.stdout
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT value FROM catalog_meta WHERE key = 'application_id'").fetchall() == [
            (APPLICATION_ID,)
        ]
    finally:
        con.close()
    again = run_cli("init", "--db", str(db))
    assert again.returncode == 0 and "up to date" in again.stdout
    assert run_cli("snapshots", "--db", str(db)).returncode == 0


def test_a_catalog_made_before_the_marker_still_opens_and_gets_it(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "CREATE TABLE schema_migrations (step INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ)"
    )
    for step, (name, apply) in enumerate(MIGRATIONS[:2], start=1):  # what the previous version wrote
        apply(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [step, name])
    con.close()
    line = one_line(run_cli("models", "--db", str(db)))  # a reader says how to upgrade it
    assert "older schema" in line and f"catalog init --db {db}" in line
    assert run_cli("sync", "--db", str(db), "--base-url", DEAD).returncode == 1
    con = connect(db, read_only=True)  # the writer upgraded it; the failed sweep is recorded as failed
    try:
        assert con.execute("SELECT value FROM catalog_meta").fetchall() == [(APPLICATION_ID,)]
        assert con.execute("SELECT status FROM snapshots").fetchall() == [("failed",)]
    finally:
        con.close()


def test_the_default_data_folder_is_still_made_by_a_creating_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = tmp_path / "data" / "catalog.duckdb"
    monkeypatch.setattr("catalog.store.db.default_db", lambda: default)
    connect(default).close()
    assert default.exists()


# --- 13. the check at open -------------------------------------------------------------------------------


@pytest.fixture
def small_catalog(tmp_path: Path, early_history: Path) -> Path:
    path = tmp_path / "h.duckdb"
    shutil.copyfile(early_history, path)
    return path


READERS = [
    ("models",),
    ("endpoints", "deepseek/deepseek-v3.2"),
    ("history", "deepseek/deepseek-v3.2"),
    ("changes", "--since", FIRST_DAY),
    ("snapshots",),
    ("cheapest", "deepseek/deepseek-v3.2"),
    ("price", "deepseek/deepseek-v3.2"),
    ("status",),
    ("jobs", "list"),
    ("jobs", "history"),
    ("site", "build", "--out", "SITE"),
    ("serve", "--port", "0"),
]
WRITERS = [
    ("sync", "--base-url", DEAD),
    ("rederive",),
    ("init",),
    ("replay", "--direct"),
    ("jobs", "run", "checkpoint"),
    ("up", "--port", "0"),
]


def _every_command(
    db: Path, tmp_path: Path
) -> Iterator[tuple[tuple[str, ...], Ran | subprocess.CompletedProcess[str]]]:
    for args in READERS + WRITERS:
        argv = tuple(str(tmp_path / "site") if a == "SITE" else a for a in args)
        yield args, catalog(*argv, "--db", str(db))


@pytest.mark.service  # starts `catalog up` / `catalog serve` as processes
def test_a_file_missing_tables_its_migrations_claim_is_one_line_in_every_reader_and_writer(
    small_catalog: Path, tmp_path: Path
) -> None:
    con = duckdb.connect(str(small_catalog))
    con.execute("DROP TABLE endpoint_status")
    con.execute("DROP TABLE job_runs")
    con.close()
    for args, ran in _every_command(small_catalog, tmp_path):
        line = one_line(ran)
        assert str(small_catalog) in line and "damaged" in line, (args, line)
        assert "endpoint_status" in line and "job_runs" in line and "restore it from a backup" in line, (args, line)


@pytest.mark.service  # starts `catalog up` / `catalog serve` as processes
def test_a_file_from_a_newer_version_says_so_instead_of_negative_migrations(
    small_catalog: Path, tmp_path: Path
) -> None:
    con = duckdb.connect(str(small_catalog))
    con.execute("INSERT INTO schema_migrations VALUES (98, '0098_future', now()), (99, '0099_more', now())")
    con.close()
    before = digest(small_catalog)
    for args, ran in _every_command(small_catalog, tmp_path):
        line = one_line(ran)
        assert "newer version of catalog" in line and "0098_future" in line, (args, line)
        assert "migration(s)" not in line  # not "needs -2 schema migration(s)"
    assert digest(small_catalog) == before


def _corrupt_a_block_of(path: Path, table: str) -> None:
    """Overwrite bytes inside a data block of ``table`` (DuckDB checks each block's checksum as it reads it)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block_size = con.execute("SELECT block_size FROM pragma_database_size()").fetchall()[0][0]
        block = con.execute(
            f"SELECT max(block_id) FROM pragma_storage_info('{table}') WHERE persistent AND block_id >= 0"
        ).fetchall()[0][0]
    finally:
        con.close()
    assert block is not None
    header = 3 * 4096  # DuckDB's file header and its two database headers precede block 0
    with open(path, "r+b") as out:
        out.seek(header + int(block) * int(block_size) + 64)
        out.write(b"\xde\xad\xbe\xef" * 32)


def test_a_corrupt_block_is_one_line_naming_the_file_and_the_way_out(small_catalog: Path) -> None:
    _corrupt_a_block_of(small_catalog, "raw_blobs")
    line = one_line(run_cli("rederive", "--db", str(small_catalog)))  # reads every archived payload
    assert str(small_catalog) in line and "damaged" in line and "Corrupt database file" in line
    assert "restore it from a backup" in line


@pytest.mark.service  # starts `catalog up` / `catalog serve` as processes
def test_a_corrupt_header_is_one_line_in_readers_writers_and_the_api(small_catalog: Path) -> None:
    with open(small_catalog, "r+b") as out:
        out.seek(100)
        out.write(b"\xde\xad" * 64)
    for args in (("models",), ("sync", "--base-url", DEAD), ("serve", "--port", "0"), ("up", "--port", "0")):
        line = one_line(catalog(*args, "--db", str(small_catalog)))
        assert str(small_catalog) in line and "damaged" in line and "restore it from a backup" in line, line
    with pytest.raises(StoreDamagedError):
        connect(small_catalog, read_only=True)


def test_creates_lists_exactly_what_each_migration_step_makes() -> None:
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE schema_migrations (step INTEGER, name VARCHAR, applied_at TIMESTAMPTZ)")
        seen = {"schema_migrations"}
        for name, apply in MIGRATIONS:
            apply(con)
            objects = {
                r[0]
                for r in con.execute(
                    "SELECT table_name FROM information_schema.tables UNION ALL "
                    "SELECT sequence_name FROM duckdb_sequences()"
                ).fetchall()
            }
            assert objects - seen == set(CREATES[name]), name
            seen = objects
        assert set(CREATES) == {name for name, _ in MIGRATIONS}
    finally:
        con.close()
