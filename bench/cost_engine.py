"""Benchmark: the cost engine (``catalog.cost.engine.cost_usage``) over synthetic usage, against genai-prices.

The price history is the 20 bundled full days replayed into a temporary DuckDB file (``catalog.replay.replay``)
and read back with ``PriceTable.from_history(price_versions(con))``. The usage is synthetic but shaped like real
traffic over the endpoints one recorded day listed (``--day``): a skewed mix of models, each row naming one of the
model's providers by slug (so the as-of lookup by endpoint is exercised) or, for a fifth of the rows, no provider
(the model-level price); prompts of 100–50,000 tokens with 0–90 % read from cache and some cache writes; 10–4,000
completion tokens, some of them reasoning; timestamps spread over the 20 days. ``model`` / ``provider`` are
``pl.Categorical``, counts ``Int64``.

Measured for each size (``--sizes``), each in its own child process so the figures do not mix:

* rows/s of ``cost_usage`` for money="units" without the breakdown, units with it, and money="decimal" with it;
* peak RSS: ``ru_maxrss`` before the input is generated and after costing; the growth is divided by the input
  frame's ``estimated_size()``;
* exactness: ``cost_total`` equals the sum of the row's ``cost_*`` terms on every priced row and in total, and the
  three modes agree on the total to the last unit.

The peer is genai-prices (``genai_prices.calc_price``, one call per row) over a sample of the same usage restricted
to models it knows, mapped to its names; its ``Usage`` objects are built before the clock starts (in its favour).

Targets: ≥ 50 M rows/s at 1e7 rows with exact money; ≥ 10,000× genai-prices; peak RSS ≤ 2.5× the input frame.

    python bench/cost_engine.py [--sizes 1e5,1e6,1e7] [--day 2026-08-05] [--peer-rows 5000] [--peer-tree DIR]

``--peer-tree``: a checkout of the old revision (``git worktree add DIR REV``), whose totals by linearity are
measured beside this tree's in the same run, and whose engine's per-row breakdown (Decimal) this script measures
too: rows/s, CPU time, peak RSS, and whether every row's verdict and money are identical (a digest of the rows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from catalog.bundle import Bundle
from catalog.cost.engine import COST_COLUMNS, cost_usage
from catalog.cost.money import from_units
from catalog.cost.sheets import PriceTable
from catalog.money import EXACT
from catalog.replay import replay
from catalog.store.db import connect
from catalog.store.queries import price_versions

MODES: tuple[tuple[str, bool], ...] = (("units", False), ("units", True), ("decimal", True))
TARGET_ROWS_PER_S = 50e6  # totals (by linearity)
TARGET_BREAKDOWN_ROWS_PER_S = 8e6  # the per-row breakdown
TARGET_PEER_RATIO = 10_000
TARGET_RSS_RATIO = 2.5
NO_PROVIDER_SHARE = 0.2
SEED = 20260805
RSS_SLACK = 4 << 20  # bytes


# -- the usage --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mix:
    """What the synthetic rows draw from: (model, provider slug) pairs with weights, and a time range."""

    models: list[str]
    providers: list[str]
    pair_model: np.ndarray  # index into models
    pair_provider: np.ndarray  # index into providers
    weights: np.ndarray
    start_us: int
    end_us: int


def usage_mix(versions: pl.DataFrame, bundle: Bundle, day: str) -> Mix:
    """The endpoints in force when ``day`` was recorded, models weighted Zipf-like (a few carry most traffic)."""
    full = bundle.snapshots("full")
    at = _micros(bundle.get(day).taken_at)
    in_force = versions.filter(
        (pl.col("kind") == "endpoint")
        & (pl.col("valid_from").dt.epoch("us") <= at)
        & (pl.col("valid_to").is_null() | (pl.col("valid_to").dt.epoch("us") > at))
        # Dynamic (-1) prices are the router's own meta-models; real usage names the model it routed to.
        & ~pl.col("pricing_text").str.contains('"-1"', literal=True)
    )
    pairs = in_force.select("model_id", "provider_slug").unique().sort("model_id", "provider_slug")
    models = pairs["model_id"].unique().sort().to_list()
    providers = pairs["provider_slug"].unique().sort().to_list()
    model_index = {m: i for i, m in enumerate(models)}
    provider_index = {p: i for i, p in enumerate(providers)}
    pair_model = np.array([model_index[m] for m in pairs["model_id"]], dtype=np.int64)
    pair_provider = np.array([provider_index[p] for p in pairs["provider_slug"]], dtype=np.int64)
    # Popularity: models in a fixed shuffled order get weight 1/rank; a model's providers share its weight.
    rank = np.random.default_rng(SEED).permutation(len(models)) + 1
    per_model = 1.0 / rank
    providers_per_model = np.bincount(pair_model, minlength=len(models))
    weights = per_model[pair_model] / providers_per_model[pair_model]
    start = full[0].taken_at
    end = full[-1].taken_at + timedelta(days=1)
    return Mix(models, providers, pair_model, pair_provider, weights / weights.sum(), _micros(start), _micros(end))


def _micros(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def make_usage(mix: Mix, rows: int, seed: int = SEED) -> pl.DataFrame:
    """``rows`` synthetic usage rows (deterministic for a seed); counts obey the contract (parts inside wholes)."""
    rng = np.random.default_rng(seed)
    pair = rng.choice(len(mix.weights), size=rows, p=mix.weights)
    model_names = pl.Series("model", mix.models, dtype=pl.Categorical)
    model = model_names.gather(pl.Series(mix.pair_model[pair]))
    provider_codes = mix.pair_provider[pair]
    provider_codes[rng.random(rows) < NO_PROVIDER_SHARE] = len(mix.providers)  # points at the null category
    provider = pl.Series("provider", [*mix.providers, None], dtype=pl.Categorical).gather(pl.Series(provider_codes))
    del pair, provider_codes

    def log_uniform(low: int, high: int) -> np.ndarray:
        return np.exp(rng.uniform(math.log(low), math.log(high + 1), rows)).astype(np.int64).clip(low, high)

    prompt = log_uniform(100, 50_000)
    # 60 % of the calls hit a cache, for 0–90 % of their prompt.
    cached_share = np.where(rng.random(rows) < 0.6, rng.uniform(0.0, 0.9, rows), 0.0)
    cache_read = (prompt * cached_share).astype(np.int64)
    del cached_share
    # 10 % write part of the rest of the prompt to the cache.
    write_share = np.where(rng.random(rows) < 0.1, rng.uniform(0.0, 1.0, rows), 0.0)
    cache_write = ((prompt - cache_read) * write_share).astype(np.int64)
    del write_share
    completion = log_uniform(10, 4_000)
    # 30 % reason, for up to 90 % of their completion (reasoning is inside the completion).
    reasoning_share = np.where(rng.random(rows) < 0.3, rng.uniform(0.0, 0.9, rows), 0.0)
    reasoning = (completion * reasoning_share).astype(np.int64)
    del reasoning_share
    stamps = pl.Series("timestamp", rng.integers(mix.start_us, mix.end_us, rows, dtype=np.int64))
    return pl.DataFrame(
        [
            stamps.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            model,
            provider,
            pl.Series("prompt_tokens", prompt),
            pl.Series("completion_tokens", completion),
            pl.Series("cache_read_tokens", cache_read),
            pl.Series("cache_write_tokens", cache_write),
            pl.Series("reasoning_tokens", reasoning),
        ]
    )


def load_table(db: Path) -> tuple[pl.DataFrame, PriceTable]:
    con = connect(db, read_only=True)
    try:
        versions = price_versions(con)
    finally:
        con.close()
    return versions, PriceTable.from_history(versions)


# -- one measurement (child process) ----------------------------------------------------------------------


def max_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def high_water_bytes() -> int:
    """VmHWM: the peak RSS of this process's own address space (not inherited through exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return -1


def cpu_waited_us() -> int:
    """Microseconds during which some runnable task of the machine waited for a CPU (Linux pressure stall
    information), -1 where the kernel does not report it. Its growth over a measurement, divided by the
    elapsed time, tells a slow run on a busy machine from a slow engine: at 2 cores shared with other
    processes, the passes get less than two cores' worth and take longer, however the work is split."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return -1


def waited_share(before: int, after: int, seconds: float) -> float:
    """The share of ``seconds`` some task waited for a CPU (NaN: not reported)."""
    return (after - before) / 1e6 / seconds if before >= 0 and after >= 0 and seconds > 0 else float("nan")


def measure(db: Path, day: str, rows: int, money: str, breakdown: bool, repeat: int) -> dict[str, Any]:
    versions, table = load_table(db)
    mix = usage_mix(versions, Bundle(), day)
    del versions
    rss_before, hwm_before = max_rss_bytes(), high_water_bytes()
    started = time.perf_counter()
    usage = make_usage(mix, rows)
    generate_s = time.perf_counter() - started
    input_bytes = usage.estimated_size()
    rss_input = max_rss_bytes()
    seconds = []
    cpu_seconds = []  # this process's CPU time (every thread): steadier than the clock on a shared machine
    result = None
    waited, span = cpu_waited_us(), time.perf_counter()
    for _ in range(repeat):
        result = None  # free the previous result before the next run, so the peak is one run's
        started, cpu = time.perf_counter(), time.process_time()
        result = cost_usage(usage, table, breakdown=breakdown, money=money)  # type: ignore[arg-type]
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
    waited_s = waited_share(waited, cpu_waited_us(), time.perf_counter() - span)
    rss_after, hwm_after = max_rss_bytes(), high_water_bytes()
    assert result is not None and result.height == rows
    out: dict[str, Any] = {
        "rows": rows,
        "money": money,
        "breakdown": breakdown,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "cpu_waited": waited_s,
        "digest": digest(result),
        "generate_s": generate_s,
        "input_bytes": input_bytes,
        "rss_before": rss_before,
        "rss_input": rss_input,
        "rss_after": rss_after,
        # ru_maxrss is this process's own peak unless it exceeds the high-water mark of its own address space
        # (it may lag that by a few pages: the kernel updates it lazily).
        "rss_own": rss_before <= hwm_before + RSS_SLACK and rss_after <= hwm_after + RSS_SLACK,
        "scale": table.scale,
        "total": str(result["cost_total"].sum()),
        "statuses": dict(result["status"].value_counts().iter_rows()),
        "sources": {str(k): v for k, v in result["price_source"].value_counts().iter_rows()},
        "cost_dtype": str(result["cost_total"].dtype),
    }
    if breakdown:
        priced = result.filter(pl.col("status") == "ok")
        terms = pl.sum_horizontal(COST_COLUMNS)
        row_mismatch = priced.select((pl.col("cost_total") != terms).sum()).item()
        # Column sums are exact in Polars (Int128 / Decimal); add them up in Python without rounding, too.
        with localcontext(EXACT):
            terms_total = sum((priced[c].sum() for c in COST_COLUMNS), start=Decimal(0))
        out["row_mismatches"] = int(row_mismatch)
        out["terms_total"] = str(terms_total)
        out["terms_equal"] = bool(terms_total == priced["cost_total"].sum())
    return out


def digest(result: pl.DataFrame) -> str:
    """A fingerprint of every row's verdict and money, to tell two revisions' answers identical or not."""
    columns = [c for c in result.columns if c.startswith("cost_") or c in ("saving", "sheet_id", "overrides_applied")]
    frame = result.select(
        pl.col("status").cast(pl.String),
        pl.col("reason").cast(pl.String),
        pl.col("price_source").cast(pl.String),
        *[pl.col(c).to_physical() for c in columns],
    )
    return str(int(frame.hash_rows(seed=17).cast(pl.UInt128).sum()) % 2**64)


def measure_totals(db: Path, day: str, rows: int, keys: list[str], repeat: int, numpy_path: bool) -> dict[str, Any]:
    """Totals by linearity (``cost_totals``) in memory, and (once) the per-row path's totals to compare;
    ``numpy_path``: without the compiled pass."""
    from catalog.cost import kernels
    from catalog.cost.linear import cost_totals
    from catalog.cost.totals import summarise

    if numpy_path:
        kernels.AVAILABLE = False

    versions, table = load_table(db)
    mix = usage_mix(versions, Bundle(), day)
    usage = make_usage(mix, rows)
    at = datetime.fromtimestamp(mix.end_us / 1e6, UTC)
    seconds = []
    cpu_seconds = []
    done = None
    waited, span = cpu_waited_us(), time.perf_counter()
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        done = cost_totals(usage, table, keys=keys, at=at)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu)
    waited_s = waited_share(waited, cpu_waited_us(), time.perf_counter() - span)
    assert done is not None
    per_row = summarise(cost_usage(usage, table, at=at, breakdown=False), keys)
    order = [*keys, "rows"]
    same = done.summary.sort(order).to_dicts() == per_row.select(done.summary.columns).sort(order).to_dicts()
    return {
        "rows": rows,
        "keys": keys,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "cpu_waited": waited_s,
        "total": str(done.cost_total),
        "same": same,
        "compiled": kernels.AVAILABLE,
    }


NAIVE_KEYS = pl.Struct({k: pl.String for k in ("prompt", "completion", "input_cache_read", "input_cache_write")})


def measure_naive(db: Path, day: str, rows: int, engine: str, repeat: int) -> dict[str, Any]:
    """The same totals the naive way: float rates joined on (model, provider) and multiplied per row, in
    Polars or in DuckDB SQL. One price per endpoint (the sheet in force on ``day``; no history, no tiers,
    no discount base): less work than the engine does, in binary floats."""
    import duckdb

    versions, _ = load_table(db)
    mix = usage_mix(versions, Bundle(), day)
    usage = make_usage(mix, rows).with_columns(pl.col("model").cast(pl.String), pl.col("provider").cast(pl.String))
    at = _micros(Bundle().get(day).taken_at)
    rates = (
        versions.filter(
            (pl.col("kind") == "endpoint")
            & (pl.col("valid_from").dt.epoch("us") <= at)
            & (pl.col("valid_to").is_null() | (pl.col("valid_to").dt.epoch("us") > at))
        )
        .with_columns(pl.col("pricing_text").str.json_decode(NAIVE_KEYS).alias("p"))
        .select(
            pl.col("model_id").alias("model"),
            pl.col("provider_slug").alias("provider"),
            *[
                pl.col("p").struct.field(k).cast(pl.Float64, strict=False).fill_null(0.0).alias(k)
                for k in ("prompt", "completion", "input_cache_read", "input_cache_write")
            ],
        )
        .unique(["model", "provider"], keep="first", maintain_order=True)
    )
    model_rates = rates.group_by("model", maintain_order=True).agg(pl.exclude("provider").first())
    seconds = []
    total = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        if engine == "polars":
            joined = usage.join(rates, on=["model", "provider"], how="left").join(
                model_rates, on="model", how="left", suffix="_m"
            )
            total = joined.select(
                (
                    (pl.col("prompt_tokens") - pl.col("cache_read_tokens") - pl.col("cache_write_tokens"))
                    * pl.coalesce("prompt", "prompt_m")
                    + pl.col("cache_read_tokens") * pl.coalesce("input_cache_read", "input_cache_read_m")
                    + pl.col("cache_write_tokens") * pl.coalesce("input_cache_write", "input_cache_write_m")
                    + pl.col("completion_tokens") * pl.coalesce("completion", "completion_m")
                ).sum()
            ).item()
        else:
            con = duckdb.connect()
            con.register("usage", usage.to_arrow())
            con.register("rates", rates.to_arrow())
            con.register("model_rates", model_rates.to_arrow())
            total = con.execute(
                """
                SELECT sum((u.prompt_tokens - u.cache_read_tokens - u.cache_write_tokens) * coalesce(r.prompt, m.prompt)
                         + u.cache_read_tokens * coalesce(r.input_cache_read, m.input_cache_read)
                         + u.cache_write_tokens * coalesce(r.input_cache_write, m.input_cache_write)
                         + u.completion_tokens * coalesce(r.completion, m.completion))
                FROM usage u LEFT JOIN rates r USING (model, provider) LEFT JOIN model_rates m ON u.model = m.model
                """
            ).fetchone()[0]
            con.close()
        seconds.append(time.perf_counter() - started)
    return {"rows": rows, "engine": engine, "seconds": seconds, "total": float(total or 0.0)}


def write_big(db: Path, day: str, folder: Path, rows: int, per_file: int) -> dict[str, Any]:
    """``rows`` synthetic rows as Parquet files of ``per_file`` rows (each written and dropped in turn)."""
    versions, _ = load_table(db)
    mix = usage_mix(versions, Bundle(), day)
    started = time.perf_counter()
    written = 0
    for index in range(math.ceil(rows / per_file)):
        part = make_usage(mix, min(per_file, rows - written), seed=SEED + 100 + index)
        part.write_parquet(folder / f"part-{index:04}.parquet", row_group_size=1 << 20)
        written += part.height
        del part
    size = sum(f.stat().st_size for f in folder.iterdir())
    return {"rows": written, "seconds": time.perf_counter() - started, "bytes": size}


def measure_stream(db: Path, folder: Path, keys: list[str]) -> dict[str, Any]:
    """Totals of a folder of Parquet files streamed in batches: rows/s and this process's peak RSS."""
    from catalog.cost.linear import combine, finish, partial_sums
    from catalog.usage_files import usage_batches

    _, table = load_table(db)
    rss_before = max_rss_bytes()
    at = datetime(2026, 8, 6, tzinfo=UTC)
    started = time.perf_counter()
    total, batches = usage_batches(folder)
    partial = None
    for batch in batches:
        sums = partial_sums(batch, table, keys=keys, at=at)
        partial = sums if partial is None else combine([partial, sums], keys)
    assert partial is not None
    done = finish(partial, table, keys)
    seconds = time.perf_counter() - started
    return {
        "rows": done.rows,
        "files_rows": total,
        "seconds": seconds,
        "rss_before": rss_before,
        "rss_peak": max_rss_bytes(),
        "total": str(done.cost_total),
    }


def measure_spark(db: Path, day: str, rows: int, work: Path) -> dict[str, Any]:
    """SparkCost.totals and .rows in local[2] on ``rows`` rows read from Parquet, against the engine."""

    from pyspark.sql import SparkSession

    from catalog.cost.linear import cost_totals
    from catalog.spark import SparkCost

    versions, table = load_table(db)
    mix = usage_mix(versions, Bundle(), day)
    usage = make_usage(mix, rows).with_columns(pl.col("model").cast(pl.String), pl.col("provider").cast(pl.String))
    path = work / "spark-usage.parquet"
    usage.write_parquet(path)
    os.environ["PYSPARK_PYTHON"] = sys.executable
    started = time.perf_counter()
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    session_s = time.perf_counter() - started
    at = datetime(2026, 8, 6, tzinfo=UTC)
    cost = SparkCost(spark, table, at=at)
    df = spark.read.parquet(str(path))
    started = time.perf_counter()
    totals = cost.totals(df, by=["model"])
    totals_s = time.perf_counter() - started
    started = time.perf_counter()
    priced_rows = cost.rows(df).selectExpr("sum(cost_total) AS s").collect()[0]["s"]
    rows_s = time.perf_counter() - started
    spark.stop()
    single = cost_totals(usage, table, keys=["model"], at=at)
    same = totals.summary.sort("model").to_dicts() == single.summary.sort("model").to_dicts()
    return {
        "rows": rows,
        "session_s": session_s,
        "totals_s": totals_s,
        "rows_s": rows_s,
        "same": same and Decimal(str(priced_rows)) == single.cost_total,
    }


# -- the peer ---------------------------------------------------------------------------------------------

# OpenRouter author prefix -> genai-prices provider id, for the providers genai-prices lists.
PEER_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "x-ai": "x-ai",
    "deepseek": "deepseek",
    "mistralai": "mistral",
    "moonshotai": "moonshotai",
    "z-ai": "zai",
    "minimax": "minimax",
    "cohere": "cohere",
}


def peer_names(models: list[str]) -> dict[str, tuple[str, str]]:
    """OpenRouter model id -> (genai-prices model ref, provider id) for the models genai-prices knows."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    known: dict[str, tuple[str, str]] = {}
    for model in models:
        author, _, name = model.partition("/")
        provider = PEER_PROVIDERS.get(author)
        if provider is None:
            continue
        name = name.split(":")[0]
        for ref in dict.fromkeys([name, name.replace(".", "-")]):
            try:
                snapshot.find_provider_model(ref, None, provider, None)
            except LookupError:
                continue
            known[model] = (ref, provider)
            break
    return known


def run_peer(db: Path, day: str, sample: int) -> dict[str, Any]:
    from genai_prices import Usage, calc_price

    versions, table = load_table(db)
    mix = usage_mix(versions, Bundle(), day)
    known = peer_names(mix.models)
    pool = make_usage(mix, max(200_000, sample * 40), seed=SEED + 1)
    pool = pool.filter(pl.col("model").cast(pl.String).is_in(list(known)))
    rows = pool.head(sample)
    calls = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unsupported usage key would be a mapping bug here
        for row in rows.iter_rows(named=True):
            ref, provider = known[row["model"]]
            usage = Usage(
                input_tokens=row["prompt_tokens"],
                cache_read_tokens=row["cache_read_tokens"],
                cache_write_tokens=row["cache_write_tokens"],
                output_tokens=row["completion_tokens"],
                output_reasoning_tokens=row["reasoning_tokens"],
            )
            calls.append((usage, ref, provider, row["timestamp"]))
    ok_rows, failed = [], 0
    for index, (usage, ref, provider, at) in enumerate(calls):  # which calls it can price at all
        try:
            calc_price(usage, ref, provider_id=provider, genai_request_timestamp=at)
            ok_rows.append(index)
        except (LookupError, ValueError):
            failed += 1
    priced = [calls[i] for i in ok_rows]
    seconds = []
    peer_totals: list[Decimal] = []
    for _ in range(3):
        started = time.perf_counter()
        peer_totals = [
            calc_price(usage, ref, provider_id=provider, genai_request_timestamp=at).total_price
            for usage, ref, provider, at in priced
        ]
        seconds.append(time.perf_counter() - started)
    # Informational: how often the two agree on these rows (OpenRouter's listing vs genai-prices' data).
    engine = cost_usage(rows, table, money="decimal", breakdown=False)["cost_total"].to_list()
    same = sum(1 for i, total in zip(ok_rows, peer_totals, strict=True) if engine[i] == total)
    return {
        "sample": rows.height,
        "models": sorted(set(rows["model"].cast(pl.String).to_list())),
        "known_models": len(known),
        "day_models": len(mix.models),
        "priced": len(priced),
        "failed": failed,
        "seconds": statistics.median(seconds),
        "same": same,
    }


# -- the parent -------------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def repeats_for(rows: int) -> int:
    return 5 if rows <= 100_000 else 3


def child(spec: dict[str, Any], tree: Path | None = None, package: Path | None = None) -> dict[str, Any]:
    """Run one step in a fresh interpreter and return the JSON it prints last; ``tree``: run it with the
    checkout of another revision there (its own bench script and package) instead of this one; ``package``:
    this script with that checkout's package (the same measurement of the other revision's engine).

    The parent stays small (imports only): a child's ``ru_maxrss`` starts at its parent's high-water mark
    (vfork + exec), so a parent that replayed the history itself would hide the children's smaller peaks.
    """
    script = str(tree / "bench" / "cost_engine.py") if tree else __file__
    command = [sys.executable, script, "--child", json.dumps(spec)]
    env = None
    if tree or package:
        env = dict(os.environ, PYTHONPATH=str(tree or package))
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"child {spec} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def setup(db: Path, day: str) -> dict[str, Any]:
    """Replay the 20 full days into ``db``; describe the price table and the usage mix."""
    bundle = Bundle()
    started = time.perf_counter()
    if not db.exists():  # else: a history replayed earlier (--history), read as it is
        con = connect(db)
        try:
            replay(con, bundle, bundle.snapshots("full"))
        finally:
            con.close()
    replay_s = time.perf_counter() - started
    started = time.perf_counter()
    versions, table = load_table(db)
    table_s = time.perf_counter() - started
    mix = usage_mix(versions, bundle, day)
    return {
        "days": len(bundle.snapshots("full")),
        "replay_s": replay_s,
        "table_s": table_s,
        "versions": len(table.versions),
        "entities": len(table.entities),
        "periods": table.n_periods,
        "scale": table.scale,
        "endpoints": len(mix.weights),
        "models": len(mix.models),
        "start_us": mix.start_us,
        "end_us": mix.end_us,
    }


def load_columns(r: dict[str, Any]) -> str:
    """A measurement's median CPU seconds (every thread), the cores it got (CPU / wall, medians) and the share
    of its time some task of the machine waited for a CPU; blanks where the run did not record them (a peer
    tree's older script)."""
    if "cpu_seconds" not in r:
        return f"{'-':>6} {'-':>5} {'-':>8}"
    cpu, wall = statistics.median(r["cpu_seconds"]), statistics.median(r["seconds"])
    return f"{cpu:>6.3f} {cpu / wall:>5.2f} {r.get('cpu_waited', float('nan')):>8.0%}"


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def breakdown_peer(
    tree: Path | None, spec: dict[str, Any], r: dict[str, Any], peers: dict[int, tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """The per-row breakdown (Decimal) by the old revision's engine (``--peer-tree``), measured by this script."""
    if tree is None or spec["money"] != "decimal" or not spec["breakdown"]:
        return
    rows = spec["rows"]
    old = child(spec, package=tree)
    peers[rows] = (r, old)
    old_s = statistics.median(old["seconds"])
    growth = (old["rss_after"] - old["rss_before"]) / old["input_bytes"]
    print(
        f"{'':>10} {'(peer)':>7} {True!s:>9} {old_s:>9.3f} {rows / old_s / 1e6:>9.2f} "
        f"{old['input_bytes'] / 1e6:>9.0f} {old['rss_before'] / 1e6:>9.0f} {old['rss_after'] / 1e6:>9.0f} "
        f"{growth:>11.2f}× {'':>6} {load_columns(old)} rows identical: "
        f"{old['digest'] == r['digest'] and old['total'] == r['total']}",
        flush=True,
    )


def print_breakdown_peers(peers: dict[int, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    for rows, (new_run, old_run) in peers.items():
        new_cpu, old_cpu = statistics.median(new_run["cpu_seconds"]), statistics.median(old_run["cpu_seconds"])
        print(
            f"per-row breakdown (decimal) at {rows:,}, this revision against the peer's engine: "
            f"{statistics.median(old_run['seconds']) / statistics.median(new_run['seconds']):.2f}× the rows/s; "
            f"CPU time {new_cpu:.2f} s against {old_cpu:.2f} s ({rows / new_cpu / 1e6:.2f} against "
            f"{rows / old_cpu / 1e6:.2f} M rows per CPU-second); every row's verdict and money identical: "
            f"{new_run['digest'] == old_run['digest']}"
        )


def totals_and_beyond(args: argparse.Namespace, db: Path, work: Path, sizes: list[int]) -> dict[tuple[int, str], float]:
    """Totals by linearity beside the naive float peers at each size; 1e8 rows streamed; Spark local[2]."""
    print(
        f"{'rows':>10} {'totals by linearity':>30} {'median s':>9} {'M rows/s':>9} {'= per-row':>9} {'CPU s':>6} "
        f"{'cores':>5} {'CPU wait':>8}"
    )
    linear: dict[tuple[int, str], float] = {}
    for rows in sizes:
        for keys in ([], ["model"]):
            # The compiled pass (numba, when installed) and the numpy path it falls back to, in the same run.
            for numpy_path in (False, True):
                spec = {"step": "totals", "db": str(db), "day": args.day, "rows": rows, "keys": keys}
                r = child(spec | {"numpy": numpy_path})
                median_s = statistics.median(r["seconds"])
                label = "grand total" if not keys else "by " + ",".join(keys)
                if numpy_path:
                    label += " (numpy path)"
                else:
                    linear[(rows, ",".join(keys))] = rows / median_s
                    label += " (compiled)" if r["compiled"] else " (numpy: no numba)"
                print(
                    f"{rows:>10,} {label:>30} {median_s:>9.3f} {rows / median_s / 1e6:>9.2f} {r['same']!s:>9} "
                    f"{load_columns(r)}"
                )
            if args.peer_tree:  # the same totals by the other revision's code, in this run
                spec = {"step": "totals", "db": str(db), "day": args.day, "rows": rows, "keys": keys}
                r = child(spec, args.peer_tree)
                median_s = statistics.median(r["seconds"])
                label = ("grand total" if not keys else "by " + ",".join(keys)) + " (peer tree)"
                print(
                    f"{rows:>10,} {label:>30} {median_s:>9.3f} {rows / median_s / 1e6:>9.2f} {r['same']!s:>9} "
                    f"{load_columns(r)}"
                )
        for engine in ("polars", "duckdb"):
            r = child({"step": "naive", "db": str(db), "day": args.day, "rows": rows, "engine": engine})
            median_s = statistics.median(r["seconds"])
            label = f"naive {engine} float join"
            print(f"{rows:>10,} {label:>30} {median_s:>9.3f} {rows / median_s / 1e6:>9.2f} {'float':>9}")
    print(
        "(naive: float rates of the sheet in force on the day joined on (model, provider), multiplied per row and "
        "summed; no history, tiers or base; the engine's figures are exact and equal the per-row path's)"
    )
    print()
    if args.stream_rows:
        folder = work / "big"
        folder.mkdir()
        made = child(
            {"step": "write_big", "db": str(db), "day": args.day, "folder": str(folder), "rows": args.stream_rows}
            | {"per_file": min(args.stream_rows, 10_000_000)}
        )
        r = child({"step": "stream", "db": str(db), "folder": str(folder), "keys": ["model"]})
        print(
            f"streamed from Parquet: {r['rows']:,} rows in {made['bytes'] / 1e9:.1f} GB of files (written in "
            f"{made['seconds']:.0f} s), totals by model in {r['seconds']:.1f} s = "
            f"{r['rows'] / r['seconds'] / 1e6:.2f} M rows/s; peak RSS {r['rss_peak'] / 1e9:.2f} GB "
            f"(target ≤ 2 GB): {verdict(r['rss_peak'] <= 2e9)}"
        )
        shutil.rmtree(folder)
    if args.spark_rows:
        try:
            r = child({"step": "spark", "db": str(db), "day": args.day, "rows": args.spark_rows, "work": str(work)})
            print(
                f"Spark local[2], {r['rows']:,} rows from Parquet (session start {r['session_s']:.0f} s, not "
                f"counted): totals by model {r['totals_s']:.1f} s = {r['rows'] / r['totals_s'] / 1e6:.2f} M "
                f"rows/s; per-row breakdown summed {r['rows_s']:.1f} s = {r['rows'] / r['rows_s'] / 1e6:.2f} M "
                "rows/s; "
                f"equal to the single-machine engine: {r['same']}"
            )
        except SystemExit as exc:  # no pyspark or no Java: say so and go on
            print(f"Spark: not measured ({str(exc).splitlines()[-1] if str(exc) else 'failed'})")
    print()

    return linear


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e5,1e6,1e7", help="comma-separated row counts")
    parser.add_argument("--day", default="2026-08-05", help="recorded day whose endpoints the usage draws from")
    parser.add_argument("--peer-rows", type=int, default=5000)
    parser.add_argument("--stream-rows", type=lambda t: int(float(t)), default=100_000_000, help="0: skip")
    parser.add_argument("--spark-rows", type=lambda t: int(float(t)), default=1_000_000, help="0: skip")
    parser.add_argument("--history", type=Path, help="a DuckDB file this script replayed before (skips the replay)")
    parser.add_argument(
        "--peer-tree",
        type=Path,
        help="a checkout of another revision (git worktree add DIR REV): its totals are measured in this run too",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        db = Path(spec["db"])
        if spec["step"] == "setup":
            result = setup(db, spec["day"])
        elif spec["step"] == "peer":
            result = run_peer(db, spec["day"], spec["sample"])
        elif spec["step"] == "totals":
            result = measure_totals(
                db, spec["day"], spec["rows"], spec["keys"], repeats_for(spec["rows"]), spec.get("numpy", False)
            )
        elif spec["step"] == "naive":
            result = measure_naive(db, spec["day"], spec["rows"], spec["engine"], repeats_for(spec["rows"]))
        elif spec["step"] == "write_big":
            result = write_big(db, spec["day"], Path(spec["folder"]), spec["rows"], spec["per_file"])
        elif spec["step"] == "stream":
            result = measure_stream(db, Path(spec["folder"]), spec["keys"])
        elif spec["step"] == "spark":
            result = measure_spark(db, spec["day"], spec["rows"], Path(spec["work"]))
        else:
            rows = spec["rows"]
            result = measure(db, spec["day"], rows, spec["money"], spec["breakdown"], repeats_for(rows))
        print(json.dumps(result))
        return

    sizes = parse_sizes(args.sizes)
    with tempfile.TemporaryDirectory(prefix="bench-cost-") as work:
        db = args.history or Path(work) / "history.duckdb"
        info = child({"step": "setup", "db": str(db), "day": args.day})
        print(
            f"history: {info['days']} full days replayed in {info['replay_s']:.1f} s; PriceTable.from_history: "
            f"{info['versions']} price versions, {info['entities']} entities, {info['periods']} periods, "
            f"scale 10^-{info['scale']} USD, built in {info['table_s'] * 1000:.0f} ms"
        )
        print(
            f"usage mix: {info['endpoints']} (model, provider) endpoints of {info['models']} models listed on "
            f"{args.day}, {NO_PROVIDER_SHARE:.0%} of rows with no provider; timestamps "
            f"{datetime.fromtimestamp(info['start_us'] / 1e6, UTC):%Y-%m-%d %H:%M} – "
            f"{datetime.fromtimestamp(info['end_us'] / 1e6, UTC):%Y-%m-%d %H:%M} UTC"
        )
        print()
        results: dict[tuple[int, str, bool], dict[str, Any]] = {}
        peers: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        header = (
            f"{'rows':>10} {'money':>7} {'breakdown':>9} {'median s':>9} {'M rows/s':>9} {'input MB':>9} "
            f"{'RSS base':>9} {'RSS peak':>9} {'growth/input':>12} {'exact':>6} {'CPU s':>6} {'cores':>5} "
            f"{'CPU wait':>8}"
        )
        print(header)
        print("-" * len(header))
        for rows in sizes:
            for money, breakdown in MODES:
                spec = {"step": "measure", "db": str(db), "day": args.day, "rows": rows}
                r = child(spec | {"money": money, "breakdown": breakdown})
                results[(rows, money, breakdown)] = r
                median_s = statistics.median(r["seconds"])
                growth = (r["rss_after"] - r["rss_before"]) / r["input_bytes"]
                exact = "-"
                if breakdown:
                    exact = "yes" if r["row_mismatches"] == 0 and r["terms_equal"] else "NO"
                print(
                    f"{rows:>10,} {money:>7} {breakdown!s:>9} {median_s:>9.3f} {rows / median_s / 1e6:>9.2f} "
                    f"{r['input_bytes'] / 1e6:>9.0f} {r['rss_before'] / 1e6:>9.0f} {r['rss_after'] / 1e6:>9.0f} "
                    f"{growth:>11.2f}× {exact:>6} {load_columns(r)}",
                    flush=True,
                )
                breakdown_peer(args.peer_tree, spec | {"money": money, "breakdown": breakdown}, r, peers)
        print(
            "(median of 5 runs at ≤ 1e5 rows, 3 above; RSS in MB, peak = ru_maxrss after costing, base = before "
            "the input was generated; growth/input = (peak − base) / input.estimated_size(); CPU s = the process's "
            "CPU time per run, every thread; cores = CPU s / median s; CPU wait = share of the runs' time some task "
            "of the machine waited for a CPU (Linux PSI): where it is high, other processes took the cores)"
        )
        print_breakdown_peers(peers)
        inherited = [f"{k[0]:,} {k[1]}{'+breakdown' if k[2] else ''}" for k, r in results.items() if not r["rss_own"]]
        if inherited:
            print(f"warning: ru_maxrss exceeds the process's own VmHWM (an inherited peak) in: {inherited}")
        print()

        largest = max(sizes)
        sample = results[(largest, "units", True)]
        total_rows = sum(sample["statuses"].values())
        statuses = ", ".join(f"{k} {v / total_rows:.1%}" for k, v in sorted(sample["statuses"].items()))
        sources = ", ".join(f"{k} {v / total_rows:.1%}" for k, v in sorted(sample["sources"].items()))
        print(f"rows at {largest:,}: status {statuses}; price source {sources}; money {sample['cost_dtype']}")
        for rows in sizes:
            units_plain = results[(rows, "units", False)]["total"]
            units = results[(rows, "units", True)]
            decimal = results[(rows, "decimal", True)]
            scale = units["scale"]
            same_total = units_plain == units["total"] and Decimal(decimal["total"]) == from_units(
                int(units["total"]), scale
            )
            print(
                f"exactness at {rows:,}: Σ cost_total = {from_units(int(units['total']), scale)} USD; "
                f"Σ cost_total = Σ of the per-row cost_* terms: units {units['terms_equal']}, decimal "
                f"{decimal['terms_equal']}; rows whose cost_total ≠ the sum of their terms: units "
                f"{units['row_mismatches']}, decimal {decimal['row_mismatches']}; the three modes' totals "
                f"identical to the last 10^-{scale} USD: {same_total}"
            )
        print()

        linear = totals_and_beyond(args, db, Path(work), sizes)

        peer = child({"step": "peer", "db": str(db), "day": args.day, "sample": args.peer_rows})
    peer_rate = peer["priced"] / peer["seconds"] if peer["priced"] else float("nan")
    print(
        f"peer genai-prices: knows {peer['known_models']} of the {peer['day_models']} models; sample of "
        f"{peer['sample']:,} rows over {len(peer['models'])} of them, {peer['priced']:,} priced "
        f"({peer['failed']} refused); calc_price loop {peer['seconds'] * 1000:.0f} ms (median of 3) = "
        f"{peer_rate:,.0f} rows/s; same total as the engine on {peer['same']:,} of {peer['priced']:,} rows"
    )
    print()

    print("targets")
    if 10_000_000 in sizes:
        for keys in ("", "model"):
            rate = linear[(10_000_000, keys)]
            label = "by " + keys if keys else "grand total"
            print(
                f"  totals by linearity at 1e7, {label}: {rate / 1e6:.1f} M rows/s exact "
                f"(target ≥ {TARGET_ROWS_PER_S / 1e6:.0f} M rows/s): {verdict(rate >= TARGET_ROWS_PER_S)}"
            )
        units_rate = 1e7 / statistics.median(results[(10_000_000, "units", False)]["seconds"])
        decimal_rate = 1e7 / statistics.median(results[(10_000_000, "decimal", True)]["seconds"])
        print(
            f"  throughput at 1e7, exact integer units, no breakdown: {units_rate / 1e6:.1f} M rows/s "
            f"(target ≥ {TARGET_ROWS_PER_S / 1e6:.0f} M rows/s): {verdict(units_rate >= TARGET_ROWS_PER_S)}"
        )
        print(
            f"  throughput at 1e7, Decimal with breakdown: {decimal_rate / 1e6:.1f} M rows/s "
            f"(target ≥ {TARGET_BREAKDOWN_ROWS_PER_S / 1e6:.0f} M rows/s): "
            f"{verdict(decimal_rate >= TARGET_BREAKDOWN_ROWS_PER_S)}"
        )
        for label, rate in (("units, no breakdown", units_rate), ("decimal + breakdown", decimal_rate)):
            ratio = rate / peer_rate
            print(
                f"  engine ({label}, 1e7) / genai-prices: {ratio:,.0f}× "
                f"(target ≥ {TARGET_PEER_RATIO:,}×): {verdict(ratio >= TARGET_PEER_RATIO)}"
            )
    else:
        print("  throughput at 1e7 and the ratio to genai-prices: not measured (add 1e7 to --sizes)")
        units_rate = largest / statistics.median(results[(largest, "units", False)]["seconds"])
        print(f"  (at {largest:,}: engine units/no-breakdown / genai-prices = {units_rate / peer_rate:,.0f}×)")
    for money, breakdown in MODES:
        r = results[(largest, money, breakdown)]
        growth = (r["rss_after"] - r["rss_before"]) / r["input_bytes"]
        print(
            f"  peak RSS growth at {largest:,}, {money}{' + breakdown' if breakdown else ''}: {growth:.2f}× the "
            f"input frame (absolute peak {r['rss_after'] / r['input_bytes']:.2f}×; target ≤ {TARGET_RSS_RATIO}×): "
            f"{verdict(growth <= TARGET_RSS_RATIO)}"
        )


if __name__ == "__main__":
    main()
