"""Read-only commands over the history: models, endpoints, history, changes, snapshots."""

from __future__ import annotations

from typing import Any

import click

from catalog.cli.common import LIMIT, db_option, instant, json_option, open_db
from catalog.cli.output import emit_json, emit_table, per_million_text, rows_of
from catalog.endpoint_status import status_text
from catalog.times import iso, now

ENDPOINT_JSON = [
    "endpoint_key",
    "model_id",
    "tag",
    "provider_name",
    "name",
    "permaslug",
    "quantization",
    "context_length",
    "max_completion_tokens",
    "max_prompt_tokens",
    "supported_parameters",
    "supports_implicit_caching",
    "status",
    "price_dynamic",
    "price_free",
    "price_prompt",
    "price_completion",
    "price_request",
    "price_image",
    "price_image_token",
    "price_image_output",
    "price_web_search",
    "price_internal_reasoning",
    "price_input_cache_read",
    "price_input_cache_write",
    "price_input_cache_write_1h",
    "price_audio",
    "price_audio_output",
    "price_input_audio_cache",
    "discount",
    "override_count",
    "pricing_text",
    "valid_from",
    "valid_to",
]


@click.command("models")
@click.option("--search", "-s", help="Match part of the id or name (case-insensitive).")
@click.option(
    "--kind",
    help="Only this kind: text, embeddings, image, video, speech, transcription, rerank, audio (or music); "
    "read from the output modalities, first match in that order after text (image+text models are image).",
)
@click.option("--as-of", "as_of", help="State in force at this time (default: the newest snapshot).")
@click.option("--limit", type=LIMIT, help="Show at most this many rows.")
@json_option
@db_option
def models_cmd(
    search: str | None, kind: str | None, as_of: str | None, limit: int | None, as_json: bool, db: str | None
) -> None:
    """List the models in the catalog as of a time."""
    from catalog.openrouter.skus import KINDS, normalise_kind
    from catalog.store import queries, snapshots

    wanted = normalise_kind(kind) if kind is not None else None
    if kind is not None and wanted is None:
        raise click.BadParameter(
            f"unknown kind {kind!r}; use one of {', '.join(KINDS)} (or music)", param_hint="--kind"
        )
    with open_db(db, read_only=True) as con:
        at = snapshots.as_of(con, instant(as_of, bound="end", what="--as-of"))
        frame = queries.narrowed_models(queries.models_as_of(con, at, search), kind=wanted)
    if limit:
        frame = frame.head(limit)
    if as_json:
        emit_json(rows_of(frame))
        return
    emit_table(
        f"{frame.height} models as of {iso(at)}",
        ["model", "kind", "context", "endpoints", "prompt $/M", "completion $/M"],
        [
            [
                r["model_id"],
                r["kind"],
                r["context_length"],
                r["endpoints"],
                _token_price(r["price_prompt"], r["kind"]),
                _token_price(r["price_completion"], r["kind"]),
            ]
            for r in frame.iter_rows(named=True)
        ],
    )


def _token_price(value: Any, kind: str | None) -> str:
    """A model of another kind listing a token price of 0 is billed in its own units (SKUs), never free."""
    if kind not in (None, "text") and value == 0:
        return "per unit"
    return per_million_text(value)


@click.command("endpoints")
@click.argument("model")
@click.option("--as-of", "as_of", help="State in force at this time (default: the newest snapshot).")
@json_option
@db_option
def endpoints_cmd(model: str, as_of: str | None, as_json: bool, db: str | None) -> None:
    """List MODEL's provider endpoints with exact prices, as of a time."""
    from catalog.store import queries, snapshots

    with open_db(db, read_only=True) as con:
        at = snapshots.as_of(con, instant(as_of, bound="end", what="--as-of"))
        frame = queries.endpoints_as_of(con, model, at)
    if as_json:
        emit_json({"model_id": model, "as_of": at, "endpoints": rows_of(frame, ENDPOINT_JSON)})
        return
    emit_table(
        f"{model}: {frame.height} endpoints as of {iso(at)}",
        [
            "tag",
            "provider",
            "prompt $/M",
            "completion $/M",
            "cache read $/M",
            "discount",
            "context",
            "quant",
            "status",
        ],
        [
            [
                r["tag"],
                r["provider_name"],
                per_million_text(r["price_prompt"]),
                per_million_text(r["price_completion"]),
                per_million_text(r["price_input_cache_read"]),
                r["discount"],
                r["context_length"],
                r["quantization"],
                status_text(r["status"]),
            ]
            for r in frame.iter_rows(named=True)
        ],
        note="Listed prices already include any discount.",
    )


@click.command("history")
@click.argument("model")
@click.option("--provider", help="Only this endpoint tag (deepinfra/fp8), provider slug or provider name.")
@json_option
@db_option
def history_cmd(model: str, provider: str | None, as_json: bool, db: str | None) -> None:
    """Show every price version of MODEL's endpoints, oldest first."""
    from catalog.store import queries

    with open_db(db, read_only=True) as con:
        frame = queries.endpoint_history(con, model, provider)
        models = queries.model_history(con, model)
    if as_json:
        emit_json({"model_id": model, "model_versions": rows_of(models), "endpoint_versions": rows_of(frame)})
        return
    emit_table(
        f"{model}: {frame.height} endpoint versions",
        ["endpoint", "valid from", "valid to", "prompt $/M", "completion $/M", "discount", "context"],
        [
            [
                r["endpoint_key"].split("@", 1)[1],
                r["valid_from"],
                r["valid_to"],
                per_million_text(r["price_prompt"]),
                per_million_text(r["price_completion"]),
                r["discount"],
                r["context_length"],
            ]
            for r in frame.iter_rows(named=True)
        ],
    )


@click.command("changes")
@click.option("--since", required=True, help="Start (a date means its 00:00 UTC).")
@click.option("--until", help="End, inclusive (a date means the end of that day; default: now).")
@click.option(
    "--kind",
    type=click.Choice(
        [
            "added",
            "removed",
            "price",
            "discount",
            "context",
            "overrides",
            "quantization",
            "parameters",
            "other",
            "coverage",
        ]
    ),
    help="Only this kind of change.",
)
@click.option(
    "--entity",
    type=click.Choice(["endpoint", "model", "catalog"]),
    help="Only endpoint or model-level changes, or the catalog's own (kinds of models it now covers).",
)
@click.option("--model", help="Only this model id.")
@click.option("--provider", help="Only this endpoint tag, provider slug or provider name.")
@json_option
@db_option
def changes_cmd(
    since: str,
    until: str | None,
    kind: str | None,
    entity: str | None,
    model: str | None,
    provider: str | None,
    as_json: bool,
    db: str | None,
) -> None:
    """Report what changed: endpoints/models added or removed, each changed price (old → new, %), discounts, context."""
    from catalog.store import queries

    start = instant(since, bound="start", what="--since")
    end = instant(until, bound="end", what="--until") or now()
    if end < start:
        raise click.BadParameter(f"--until {until} is before --since {since}", param_hint="--until")
    with open_db(db, read_only=True) as con:
        frame = queries.changes(con, start, end, entity=entity, kind=kind, model=model, provider=provider)
    if as_json:
        emit_json({"since": start, "until": end, "changes": rows_of(frame)})
        return
    emit_table(
        f"{frame.height} changes {iso(start)} → {iso(end)}",
        ["at", "entity", "kind", "model", "endpoint", "field", "old", "new", "%"],
        [
            [
                r["at"],
                r["entity"],
                r["kind"],
                r["model_id"],
                r["tag"],
                r["field"],
                r["old"],
                r["new"],
                r["pct_change"],
            ]
            for r in frame.iter_rows(named=True)
        ],
    )


@click.command("snapshots")
@json_option
@db_option
def snapshots_cmd(as_json: bool, db: str | None) -> None:
    """List the snapshots taken: when, from where, status, counts, versions opened/closed, errors."""
    from catalog.store import queries

    with open_db(db, read_only=True) as con:
        frame = queries.snapshots(con)
    if as_json:
        emit_json(rows_of(frame))
        return
    emit_table(
        f"{frame.height} snapshots",
        ["id", "taken at", "source", "status", "models", "endpoints", "opened", "closed", "ms", "errors"],
        [
            [
                r["snapshot_id"],
                r["taken_at"],
                r["source"],
                r["status"],
                r["models_count"],
                r["endpoints_count"],
                r["versions_opened"],
                r["versions_closed"],
                r["duration_ms"],
                (r["error_summary"] or "")[:80],
            ]
            for r in frame.iter_rows(named=True)
        ],
    )
