"""Schema migrations: ordered, named steps, each applied once in its own transaction and recorded.

Add a step by appending to ``MIGRATIONS`` (and what it creates to ``CREATES``); never edit one that has shipped.

A catalog file says what it is: ``catalog_meta`` holds ``application_id = APPLICATION_ID`` (step 3, written when
the file is created, and added to files made before it existed), so a writer can tell a catalog from another
program's DuckDB file and refuse to touch the latter.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from catalog.prices import PRICE_KEYS
from catalog.store.failures import commit, rollback
from catalog.store.redaction import scrub

PRICE = "DECIMAL(38,30)"
PRICE_COLUMNS = ",\n    ".join(f"price_{k} {PRICE}" for k in PRICE_KEYS)
VERSION_COLUMNS = """
    version_id BIGINT NOT NULL DEFAULT nextval('version_id_seq'),
    content_hash VARCHAR NOT NULL,
    valid_from TIMESTAMPTZ NOT NULL,
    valid_to TIMESTAMPTZ,
    first_snapshot INTEGER NOT NULL,
    last_snapshot INTEGER NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL"""
PRICING_COLUMNS = f"""
    {PRICE_COLUMNS},
    discount {PRICE} NOT NULL,
    price_dynamic BOOLEAN NOT NULL,
    price_free BOOLEAN NOT NULL,
    override_count INTEGER NOT NULL,
    pricing_text JSON NOT NULL"""


def _initial_history(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE SEQUENCE version_id_seq START 1")
    con.execute(
        """
        CREATE TABLE snapshots (
            snapshot_id INTEGER PRIMARY KEY,
            taken_at TIMESTAMPTZ NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            source VARCHAR NOT NULL,
            kinds VARCHAR NOT NULL,
            status VARCHAR NOT NULL CHECK (status IN ('ok', 'partial', 'failed', 'suspicious')),
            models_count INTEGER,
            endpoints_count INTEGER,
            providers_count INTEGER,
            endpoint_failures INTEGER NOT NULL DEFAULT 0,
            versions_opened INTEGER NOT NULL DEFAULT 0,
            versions_closed INTEGER NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            duration_ms INTEGER,
            error_summary VARCHAR
        )"""
    )
    con.execute(
        f"""
        CREATE TABLE model_versions (
            model_id VARCHAR NOT NULL,{VERSION_COLUMNS},
            canonical_slug VARCHAR,
            name VARCHAR,
            created BIGINT,
            context_length BIGINT,
            modality VARCHAR,
            input_modalities VARCHAR[],
            output_modalities VARCHAR[],
            tokenizer VARCHAR,
            instruct_type VARCHAR,
            top_context_length BIGINT,
            top_max_completion_tokens BIGINT,
            is_moderated BOOLEAN,
            supported_parameters VARCHAR[],
            hugging_face_id VARCHAR,
            expiration_date VARCHAR,
            knowledge_cutoff VARCHAR,
            alias_target VARCHAR,{PRICING_COLUMNS},
            extra JSON
        )"""
    )
    con.execute(
        f"""
        CREATE TABLE endpoint_versions (
            endpoint_key VARCHAR NOT NULL,
            model_id VARCHAR NOT NULL,
            tag VARCHAR NOT NULL,
            provider_slug VARCHAR NOT NULL,{VERSION_COLUMNS},
            name VARCHAR,
            permaslug VARCHAR,
            model_name VARCHAR,
            provider_name VARCHAR,
            quantization VARCHAR,
            context_length BIGINT,
            max_completion_tokens BIGINT,
            max_prompt_tokens BIGINT,
            supported_parameters VARCHAR[],
            supports_implicit_caching BOOLEAN,
            supports_voice_cloning BOOLEAN,{PRICING_COLUMNS}
        )"""
    )
    override_prices = ",\n            ".join(f"price_{k} {PRICE}" for k in PRICE_KEYS)
    con.execute(
        f"""
        CREATE TABLE price_overrides (
            entity VARCHAR NOT NULL CHECK (entity IN ('model', 'endpoint')),
            version_id BIGINT NOT NULL,
            ordinal INTEGER NOT NULL,
            min_prompt_tokens BIGINT,
            utc_start INTEGER,
            utc_end INTEGER,
            dynamic BOOLEAN NOT NULL,
            {override_prices}
        )"""
    )
    con.execute(
        f"""
        CREATE TABLE endpoint_status (
            endpoint_key VARCHAR NOT NULL,
            model_id VARCHAR NOT NULL,{VERSION_COLUMNS},
            status INTEGER
        )"""
    )
    con.execute(
        """
        CREATE TABLE endpoint_telemetry (
            endpoint_key VARCHAR NOT NULL,
            model_id VARCHAR NOT NULL,
            snapshot_id INTEGER NOT NULL,
            observed_at TIMESTAMPTZ NOT NULL,
            status INTEGER,
            uptime_last_5m DOUBLE,
            uptime_last_30m DOUBLE,
            uptime_last_1d DOUBLE,
            latency_p50 DOUBLE, latency_p75 DOUBLE, latency_p90 DOUBLE, latency_p99 DOUBLE,
            throughput_p50 DOUBLE, throughput_p75 DOUBLE, throughput_p90 DOUBLE, throughput_p99 DOUBLE
        )"""
    )
    con.execute(
        f"""
        CREATE TABLE provider_versions (
            slug VARCHAR NOT NULL,{VERSION_COLUMNS},
            name VARCHAR,
            privacy_policy_url VARCHAR,
            terms_of_service_url VARCHAR,
            status_page_url VARCHAR,
            headquarters VARCHAR,
            datacenters VARCHAR[],
            policy_training BOOLEAN,
            policy_training_openrouter BOOLEAN,
            policy_retains_prompts BOOLEAN,
            policy_can_publish BOOLEAN,
            policy_requires_user_ids BOOLEAN,
            policy_retention_days INTEGER
        )"""
    )
    con.execute(
        """
        CREATE TABLE raw_blobs (
            sha256 VARCHAR PRIMARY KEY,
            size_bytes INTEGER NOT NULL,
            gzip_body BLOB NOT NULL
        )"""
    )
    con.execute(
        """
        CREATE TABLE raw_payloads (
            snapshot_id INTEGER NOT NULL,
            path VARCHAR NOT NULL,
            status INTEGER,
            sha256 VARCHAR,
            error VARCHAR,
            PRIMARY KEY (snapshot_id, path)
        )"""
    )


def _job_runs_and_raw_retention(con: duckdb.DuckDBPyConnection) -> None:
    # The scheduler's run log: one row per job run (or per run the scheduler skipped), written when the run
    # starts ('running') and completed when it ends, so a killed process leaves a row that says so.
    con.execute("CREATE SEQUENCE job_run_id_seq START 1")
    con.execute(
        """
        CREATE TABLE job_runs (
            run_id BIGINT PRIMARY KEY DEFAULT nextval('job_run_id_seq'),
            job VARCHAR NOT NULL,
            trigger VARCHAR NOT NULL CHECK (trigger IN ('schedule', 'manual')),
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            status VARCHAR NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'interrupted', 'skipped')),
            rows_changed BIGINT,
            snapshot_id INTEGER,
            error_summary VARCHAR,
            detail JSON,
            pid INTEGER
        )"""
    )
    # Retention of the raw archive: a snapshot whose payloads were pruned says when, and rederive skips it.
    con.execute("ALTER TABLE snapshots ADD COLUMN raw_pruned_at TIMESTAMPTZ")


APPLICATION_ID = "openrouter-price-catalog"


def _catalog_meta(con: duckdb.DuckDBPyConnection) -> None:
    # The marker: what program this file belongs to (DuckDB has no application id in its header).
    con.execute("CREATE TABLE catalog_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO catalog_meta VALUES ('application_id', ?)", [APPLICATION_ID])


def _redact_stored_credentials(con: duckdb.DuckDBPyConnection) -> None:
    # Versions before this one stored a base URL's user-info and keys an upstream echoed (snapshot sources and
    # error summaries, payload errors, run errors). A migration, not a `rederive`: it runs by itself the first
    # time any writer opens the file, readers refuse the file until it has run, and it reaches every table
    # (rederive rewrites only the good snapshots' rows and leaves payload errors and the run log alone).
    scrub(con)


def _endpoint_provider_model_id(con: duckdb.DuckDBPyConnection) -> None:
    # The id the provider's own API knows the model by, for calling it directly (catalog.client.native).
    # Versions stored before it was recorded keep NULL until a snapshot carrying it fills the open ones in
    # (catalog.store.ingest: a fact newly known is not a change of the endpoint).
    con.execute("ALTER TABLE endpoint_versions ADD COLUMN provider_model_id VARCHAR")


def _scope_and_skus(con: duckdb.DuckDBPyConnection) -> None:
    # What each snapshot covered: `text` (the default /models, every snapshot taken before this step), `all`, or
    # the output modalities it proved (catalog.openrouter.payload). A snapshot never closes a model outside it.
    con.execute("ALTER TABLE snapshots ADD COLUMN scope VARCHAR DEFAULT 'text'")
    con.execute("UPDATE snapshots SET scope = 'text' WHERE scope IS NULL")
    # The SKU prices of an endpoint version (models of other kinds bill by second, character, minute …): the
    # recorded text, the same exactly as a decimal, in USD (a name in cents / 100), and what the name says.
    con.execute(
        f"""
        CREATE TABLE endpoint_skus (
            version_id BIGINT NOT NULL,
            sku VARCHAR NOT NULL,
            price_text VARCHAR NOT NULL,
            price {PRICE},
            price_usd {PRICE},
            unit VARCHAR,
            billable VARCHAR,
            variant VARCHAR,
            is_price BOOLEAN NOT NULL
        )"""
    )


def _endpoint_telemetry_once(con: duckdb.DuckDBPyConnection) -> None:
    # One telemetry row an endpoint (of its model), as the ingest has always kept it, before the next step's index
    # says so. A file that holds one twice (none should) keeps the row stored last. A step of its own: an index made
    # in the transaction that deleted a row still sees it.
    con.execute(
        "DELETE FROM endpoint_telemetry WHERE rowid NOT IN "
        "(SELECT max(rowid) FROM endpoint_telemetry GROUP BY endpoint_key, model_id)"
    )


def _endpoint_telemetry_key(con: duckdb.DuckDBPyConnection) -> None:
    # With it, a sweep that updated as many telemetry rows as it lists, each matched by key and model, knows it
    # updated each of its own once without counting distinct keys (catalog.store.ingest).
    con.execute("CREATE UNIQUE INDEX endpoint_telemetry_key ON endpoint_telemetry (endpoint_key, model_id)")


Migration = tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]
MIGRATIONS: list[Migration] = [
    ("0001_initial_history", _initial_history),
    ("0002_job_runs_and_raw_retention", _job_runs_and_raw_retention),
    ("0003_catalog_meta", _catalog_meta),
    ("0004_redact_stored_credentials", _redact_stored_credentials),
    ("0005_endpoint_provider_model_id", _endpoint_provider_model_id),
    ("0006_snapshot_scope_and_skus", _scope_and_skus),
    ("0007_endpoint_telemetry_once", _endpoint_telemetry_once),
    ("0008_endpoint_telemetry_key", _endpoint_telemetry_key),
]
# The tables and sequences each step creates: a file whose schema_migrations lists a step must hold them
# (the check at open; a test keeps this equal to what the steps really create).
CREATES: dict[str, tuple[str, ...]] = {
    "0001_initial_history": (
        "version_id_seq",
        "snapshots",
        "model_versions",
        "endpoint_versions",
        "price_overrides",
        "endpoint_status",
        "endpoint_telemetry",
        "provider_versions",
        "raw_blobs",
        "raw_payloads",
    ),
    "0002_job_runs_and_raw_retention": ("job_run_id_seq", "job_runs"),
    "0003_catalog_meta": ("catalog_meta",),
    "0004_redact_stored_credentials": (),  # rewrites stored text, creates nothing
    "0005_endpoint_provider_model_id": (),  # adds a column
    "0006_snapshot_scope_and_skus": ("endpoint_skus",),
    "0007_endpoint_telemetry_once": (),  # deletes a row held twice
    "0008_endpoint_telemetry_key": (),  # an index on a table
}


def applied(con: duckdb.DuckDBPyConnection) -> list[str]:
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()
    if not exists or not exists[0][0]:
        return []
    return [row[0] for row in con.execute("SELECT name FROM schema_migrations ORDER BY step").fetchall()]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every missing step in order; return the names applied now."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "step INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    done = set(applied(con))
    new: list[str] = []
    for step, (name, apply) in enumerate(MIGRATIONS, start=1):
        if name in done:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            apply(con)
            con.execute("INSERT INTO schema_migrations (step, name) VALUES (?, ?)", [step, name])
        except BaseException:
            rollback(con)
            raise
        commit(con)
        new.append(name)
    return new


def describe_schema(con: duckdb.DuckDBPyConnection) -> str:
    """The schema as Markdown (one bullet per table), as the README shows it; a test keeps them equal."""
    rows = con.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column, dtype in rows:
        tables.setdefault(table, []).append(f"{column} {dtype}")
    return "\n".join(f"- `{table}`: {', '.join(cols)}" for table, cols in tables.items()) + "\n"


if __name__ == "__main__":
    memory = duckdb.connect()
    migrate(memory)
    print(describe_schema(memory), end="")
