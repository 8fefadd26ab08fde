"""Exact totals by linearity: Σ over sheet variants of rate × Σ counts, with no per-row multiplication.

Within one price-sheet *variant* (a sheet with a given set of applying overrides) a row's exact cost is a
linear form of its counts, ``Σ_term rate_term × count_term``. So the total of any set of rows priced by the
same variant is that form applied to the *sums* of their counts. Totals and grouped totals therefore need,
per row, only the key of its variant (and of its group) — a few gathers — and one pass of integer sums per
count column; the multiplications happen once per (group, variant), in Python-sized integers.

A row's variant follows from its *cell*, (distinct model/provider/endpoint) × (period between two price
changes), except on the rare sheets with overrides, where the whole prompt and the UTC time of day pick
the override mask per row (computed only for the rows of those cells). Rows that cannot be priced
(invalid counts, unknown model, no price then, dynamic) are tallied with the same status and reason as the
per-row path gives them.

**The undiscounted base.** The per-row path rounds each row's ``cost_base = total × den / num`` half up to
the table's unit (``1 − discount = num / den``, reduced). That rounding is not linear, so this path does
not round the sum once: it reproduces the per-row roundings exactly. With ``t = q·num + r`` (``r = t mod
num``), a row's rounded base is ``q·den + ⌊(2·r·den + num) / (2·num)⌋``; summed over the rows of a
variant, ``Σ base = den·(T − R)/num + F`` where ``T = Σ t`` (linear), ``R = Σ r`` and ``F`` the sum of the
rounded remainders. ``r`` needs only arithmetic modulo ``num`` (small integers) on the rows of discounted
variants, never their full product. So both paths give the same ``cost_base`` and ``saving`` to the unit.

With numba installed the per-row work is one compiled pass, ``kernels.totals`` (in ``_Batch._fused``):
each row's cell from its categorical codes and time, its override mask, and int64 sums of its counts and of
``r`` and the rounded remainder per slot, a slot being (group, listed sheet, mask) — the cells that share a
sheet and the grouping names share a slot. The base is rounded exactly as above. The same pass notes each
count's range and whether parts exceed their whole; its sums are used only when those allow them. A batch
with flagged, negative or part-beyond-whole counts, or with many-digit discounts, takes the numpy path,
which gives the same integers (both are tested against the per-row path).

The partial sums (``partial_sums``) are plain sums: batches of a streamed file and Spark partitions add up
(``combine``) before ``finish`` turns them into money. A batch whose counts could approach 128-bit money
is handed to the per-row path (which flags such rows), so the results stay identical there too; sums whose
money could pass 2**120 (bounded from each partial row's own rates) are multiplied in Python integers.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from catalog.cost import kernels
from catalog.cost.engine import (
    _DYNAMIC,
    _FIXED_REASONS,
    _I128_SAFE,
    _NO_PRICE,
    _WHOLE,
    STATUSES,
    TERMS,
    _combos,
    _dense_codes,
    _override_mask,
    _problem_code,
    cost_usage,
)
from catalog.cost.money import decimal_column, from_units
from catalog.cost.sheets import PriceTable, Resolution
from catalog.cost.usage import (
    BAD_TIME,
    COMPLETION_PARTS,
    COUNT_COLUMNS,
    DEFAULTS,
    INVALID_REASON,
    NOT_WHOLE,
    PROMPT_PARTS,
    conform,
)
from catalog.errors import InputError

Ints = npt.NDArray[np.int64]
# Columns of a partial-sums frame beside the group keys.
SUMS = tuple(f"sum_{c}" for c in COUNT_COLUMNS)
PARTIAL_COLUMNS = (
    "variant",
    "status",
    "reason",
    "rows",
    *SUMS,
    "residue",
    "rounded",
    "units_total",
    "units_base",
    "units_saving",
)
KEY_PARTS = ("model", "provider", "endpoint")
_DAY_US = 86_400_000_000
_EXACT_FLOAT = 2**53  # a float64 sum of integers is exact while every partial sum stays below this
_MAX_BUCKETS = 1 << 23  # above this many possible keys, the keys are renumbered densely first
_SMALL_MODULUS = 2**25  # discount fractions with num and den below this take the vectorised remainder path


@dataclass(frozen=True)
class LinearSummary:
    """Totals by linearity: the summary frame (as ``catalog.cost.totals.summarise`` gives it) and the tally."""

    summary: pl.DataFrame
    rows: int
    by_status: dict[str, int]
    cost_total: Decimal
    scale: int


def cost_totals(
    usage: pl.DataFrame, table: PriceTable, *, keys: Sequence[str] = (), at: datetime | None = None
) -> LinearSummary:
    """Exact totals (per group of ``keys``: model, provider, endpoint, day, status or any usage column) of
    ``usage`` priced at the prices in force at each row's time; equal to summing the per-row path's output."""
    return finish(partial_sums(usage, table, keys=keys, at=at), table, keys)


def partial_sums(
    usage: pl.DataFrame, table: PriceTable, *, keys: Sequence[str] = (), at: datetime | None = None
) -> pl.DataFrame:
    """One row per (group, variant, status, reason): how many rows and the exact sums of their counts."""
    if not table.versions:
        raise InputError("the price table is empty: load the history first (`catalog up` or `catalog sync`)")
    keys = list(keys)
    missing = [k for k in keys if k not in ("day", "status") and k not in usage.columns and k not in KEY_PARTS]
    if missing:
        raise InputError(f"cannot group by {', '.join(missing)}: the usage has no such column")
    if INVALID_REASON in usage.columns:
        marked = usage[INVALID_REASON].is_not_null()
        if marked.any():
            # Rows the input layer already judged invalid (``catalog.cost.shapes``: no counts) take the per-row
            # path, which reports their reason; the rest are summed by linearity as usual.
            invalid = _partials_from_rows(conform(usage.filter(marked)), table, keys, at or datetime.now(UTC))
            rest = partial_sums(usage.filter(~marked).drop(INVALID_REASON), table, keys=keys, at=at)
            return combine([rest, invalid], keys)
        usage = usage.drop(INVALID_REASON)
    given = set(usage.columns)
    frame = conform(usage)
    default_at = at or datetime.now(UTC)
    if frame.height == 0:
        return _empty(keys)
    if kernels.AVAILABLE:
        # The compiled pass first: it sums and checks the counts at once, and the sums are used only when the
        # checks pass (else the batch is judged below as if the pass had not run: the usual path is one pass
        # over the rows, and a batch with impossible counts costs a pass more).
        found = _Batch(frame, table, keys, default_at, given, None).partials()
        if found is not None:
            return found
    extrema, rests = _extrema(frame, given)
    if _too_large(extrema, table):
        return _partials_from_rows(frame, table, keys, default_at)
    batch = _Batch(frame, table, keys, default_at, given, extrema, rests)
    found = batch.partials()
    assert found is not None  # given the extrema, the batch always has a path
    return found


def _extrema(frame: pl.DataFrame, given: set[str]) -> tuple[dict[str, Any], tuple[int, int] | None]:
    """Each count column's max and min (``max_<column>``, ``min_<column>``), and with numba the least
    prompt and completion rests (parts within their whole) from the same pass (else None)."""
    named = [c for c in COUNT_COLUMNS if c in given]
    if kernels.AVAILABLE and named and frame.select(pl.col(named).null_count().sum()).row(0) == (0,) * len(named):
        spans, rests = kernels.extrema({c: frame[c].to_numpy() for c in named})
        extrema: dict[str, Any] = {}
        for c in COUNT_COLUMNS:
            low, high = spans.get(c, (DEFAULTS[c], DEFAULTS[c]))
            extrema[f"max_{c}"], extrema[f"min_{c}"] = high, low
        return extrema, rests
    found = frame.select(
        *[pl.col(c).max().alias(f"max_{c}") for c in COUNT_COLUMNS],
        *[pl.col(c).min().alias(f"min_{c}") for c in COUNT_COLUMNS],
    ).row(0, named=True)
    return found, None


def combine(partials: Sequence[pl.DataFrame], keys: Sequence[str]) -> pl.DataFrame:
    """Partial sums of several batches (files, partitions) added up: still partial sums."""
    frames = [p for p in partials if p.height]
    if not frames:
        return _empty(list(keys))
    frame = pl.concat(frames, how="vertical_relaxed")
    by = list(dict.fromkeys([*keys, "variant", "status", "reason"]))
    return frame.group_by(by, maintain_order=True).agg(pl.col(c).sum() for c in PARTIAL_COLUMNS if c not in by)


def finish(partials: pl.DataFrame, table: PriceTable, keys: Sequence[str]) -> LinearSummary:
    """Money from partial sums: per (group, variant) rate × Σ counts, then the groups' exact totals."""
    keys = list(keys)
    partials = combine([partials], keys)
    ok = pl.col("status") == "ok"
    money = _money(partials, table)
    frame = partials.with_columns(money)
    aggs = [
        pl.col("rows").sum().alias("rows"),
        pl.col("rows").filter(ok).sum().alias("priced"),
        pl.col("units_total").filter(ok).sum().alias("cost_total"),
        pl.col("units_base").filter(ok).sum().alias("cost_base"),
        pl.col("units_saving").filter(ok).sum().alias("saving"),
    ]
    summary = frame.group_by(keys, maintain_order=True).agg(aggs) if keys else frame.select(aggs)
    priced = pl.col("priced") > 0
    summary = summary.with_columns(
        pl.when(priced).then(pl.col("cost_total")).alias("cost_total"),
        pl.when(priced).then(pl.col("cost_base")).alias("cost_base"),
        pl.when(priced).then(pl.col("saving")).alias("saving"),
    )
    summary = summary.with_columns(
        pl.col("rows").cast(pl.Int64),
        pl.col("priced").cast(pl.Int64),
        *[decimal_column(summary[c].cast(pl.Int128), table.scale) for c in ("cost_total", "cost_base", "saving")],
    )
    if keys:
        summary = summary.sort("cost_total", descending=True, nulls_last=True)
    by_status_frame = frame.group_by("status").agg(pl.col("rows").sum())
    counts = {str(s): int(n) for s, n in by_status_frame.iter_rows()}
    total_units = frame.filter(ok)["units_total"].sum() if frame.height else 0
    return LinearSummary(
        summary=summary,
        rows=int(frame["rows"].sum()) if frame.height else 0,
        by_status={s: counts[s] for s in STATUSES if counts.get(s)},
        cost_total=from_units(int(total_units or 0), table.scale),
        scale=table.scale,
    )


# -- one batch --------------------------------------------------------------------------------------------


class _Batch:
    """The per-row keys of one conformed batch and its bucketed sums."""

    def __init__(
        self,
        frame: pl.DataFrame,
        table: PriceTable,
        keys: list[str],
        default_at: datetime,
        given: set[str],
        extrema: dict[str, Any] | None,
        rests: tuple[int, int] | None = None,
    ) -> None:
        """``extrema`` (each count column's ``max_`` and ``min_``): None for the compiled pass alone, which
        finds them itself and gives up (``partials`` None) where they rule its sums out."""
        self.frame, self.table, self.keys, self.given = frame, table, keys, given
        self.optimistic = extrema is None
        self.rests = rests  # the least prompt and completion rests (None: not known yet)
        # The largest magnitude of each count column (bounds the exact float sums).
        self.largest = (
            {c: max(abs(int(extrema[f"max_{c}"] or 0)), abs(int(extrema[f"min_{c}"] or 0))) for c in COUNT_COLUMNS}
            if extrema is not None
            else {}
        )
        self.negative = extrema is not None and any(
            int(extrema[f"min_{c}"] or 0) < 0 for c in COUNT_COLUMNS if c in given
        )
        self.n = frame.height
        stamps = frame["timestamp"]
        filled = stamps.fill_null(pl.lit(default_at, pl.Datetime("us", "UTC"))) if stamps.null_count() else stamps
        self.micros = filled.dt.epoch("us")
        self.periods = table.n_periods
        self.per_cell: Ints | None = None
        self.codes: tuple[list[Any], list[int]] | None = None
        coded = _kernel_combos(frame, table) if kernels.AVAILABLE else None
        if coded is not None:  # compiled: the cells are found in the pass that sums (``_fused``)
            codes, radixes, self.combo_lookup, self.resolutions, self.combo_parts = coded
            self.codes = codes, radixes
            self.n_cells = len(self.resolutions) * self.periods
            return
        combined, _, self.combo_lookup, self.resolutions, self.combo_parts = _raw_combos(frame, table)
        # Dense combos keep the bucket space (combos × periods × masks × groups) small.
        self.cell = self.combo_lookup[combined] * self.periods + table.period_of(self.micros).to_numpy()
        self.n_cells = len(self.resolutions) * self.periods

    def _ensure_cells(self) -> None:
        """Each row's cell, for the numpy path (the fused pass finds them itself)."""
        if self.codes is None or self.per_cell is not None:
            return
        found, radixes = self.codes
        codes = [c.filled(r - 1) if isinstance(c, kernels.Nullable) else c for c, r in zip(found, radixes, strict=True)]
        combined = codes[0].astype(np.int64)
        for code, radix in zip(codes[1:], radixes[1:], strict=True):
            combined = combined * radix + code
        self.cell = self.combo_lookup[combined] * self.periods + self.table.period_of(self.micros).to_numpy()
        self.per_cell = np.bincount(self.cell, minlength=self.n_cells)

    def partials(self) -> pl.DataFrame | None:
        """The batch's partial sums (None: the compiled pass alone could not give them)."""
        table = self.table
        # The compiled pass runs first, alone (``optimistic``); a batch it gave up on takes the numpy path.
        fused = self._fused() if self.optimistic else None
        if fused is None and self.optimistic:
            return None
        if fused is not None:  # every count summed in one compiled pass (no impossible counts there)
            compiled, all_codes, cell_sheet, mask_size, group_size, group_values = fused
            used = np.flatnonzero(compiled[:, 0])
            code, rows_used = all_codes[used], compiled[used, 0]
        else:
            self._ensure_cells()
            cell_sheet, _ = self._cell_sheets()
            mask, mask_size = self._masks(cell_sheet)
            problem, problem_size = self._problems()
            group, group_size, group_values = self._groups()
            # One integer per row: (problem, group, cell, override mask), in mixed radix.
            bucket = self.cell
            if mask_size > 1:
                bucket = bucket * mask_size + mask
            space = self.n_cells * mask_size
            if group_size > 1:
                bucket = group * space + bucket
            space *= group_size
            if problem_size > 1:
                bucket = problem * space + bucket
            space *= problem_size
            dense: Ints | None = None
            if space > _MAX_BUCKETS:  # renumber the keys densely (a sort; only for many groups × cells)
                dense, bucket = np.unique(bucket, return_inverse=True)
                space = len(dense)
            rows = np.bincount(bucket, minlength=space)
            used = np.flatnonzero(rows)
            code, rows_used = (dense[used] if dense is not None else used), rows[used]
        # Decode each used bucket.
        rest = code
        rest, mask_of = (rest // mask_size, rest % mask_size) if mask_size > 1 else (rest, np.zeros_like(rest))
        rest, cell_of = rest // self.n_cells, rest % self.n_cells
        problem_of, group_of = (
            (rest // group_size, rest % group_size) if group_size > 1 else (rest, np.zeros_like(rest))
        )
        sheet = cell_sheet[cell_of]
        combo_of = cell_of // self.periods
        variant = np.where(
            sheet >= 0, table.variant_base.to_numpy()[np.maximum(sheet, 0)] + mask_of, table.null_variant
        )
        status, reason = self._verdicts(combo_of, problem_of, sheet, variant)
        ok = (status == "ok").to_numpy()
        variant = np.where(ok, variant, table.null_variant)
        columns: dict[str, Any] = {}
        for k in self.keys:
            if k in KEY_PARTS:
                names = pl.Series(k, [parts.get(k) for parts in self.combo_parts], dtype=pl.String)
                columns[k] = names.gather(pl.Series(combo_of))
            elif k != "status":
                columns[k] = group_values[k](group_of)
            else:
                columns[k] = status.alias(k)
        columns["variant"] = pl.Series("variant", variant, dtype=pl.Int64)
        columns["status"], columns["reason"] = status, reason
        columns["rows"] = pl.Series("rows", rows_used, dtype=pl.Int64)
        if fused is not None:
            sums = self._compiled_sums(fused[0], used)
            residue, rounded = self._compiled_remainders(fused[0], used, ok)
        else:
            sums = self._sums(bucket, space, used, rows)
            residue, rounded = self._remainders(bucket, space, used, variant, ok)
        for name, total in zip(SUMS, sums, strict=True):
            columns[name] = total
        columns["residue"], columns["rounded"] = residue, rounded
        zero = pl.Series([0] * len(used), dtype=pl.Int128)
        for name in ("units_total", "units_base", "units_saving"):
            columns[name] = zero.alias(name)
        return pl.DataFrame(columns)

    def _fused(self) -> tuple[Ints, Ints, Ints, int, int, dict[str, Any]] | None:
        """``kernels.totals``: per bucket (group, cell, override mask) the rows, the sums of every count and
        the base's remainders, in one compiled pass; with each bucket's code in the numpy path's mixed radix,
        the sheet of every cell, the mask and group radixes and the group decoders. None where it does not
        apply (the numpy path then sorts things out): no numba, flagged counts, too many buckets to hold
        densely, or discounts with many-digit fractions; or, found by the pass itself, negative counts,
        parts beyond their whole, sums that could reach 2**62 or money that could near 128 bits."""
        if self.codes is None or self.n_cells > _MAX_BUCKETS:
            return None
        flags = [c for c in (NOT_WHOLE, BAD_TIME) if c in self.frame.columns]
        if any(bool(self.frame[c].any()) for c in flags):
            return None
        given = [c in self.given for c in COUNT_COLUMNS]
        if any(self.frame[c].null_count() for c, g in zip(COUNT_COLUMNS, given, strict=True) if g):
            return None  # (``conform`` fills them; a null would not survive the int64 arrays the pass reads)
        residues = _variant_residues(self.table)
        if residues is None:
            return None
        coefficient_of, num_of, den_of, defaults_of = residues
        table = self.table
        # The sheet of every cell (not only the used ones: the pass finds the cells as it goes).
        cell_sheet = _cell_sheets_of(table, self.combo_parts, self.resolutions)
        # A cell whose sheet has override entries gets a slot per mask; every other cell one.
        mask_size, cell_cond = 1, np.full(self.n_cells, -1, dtype=np.int64)
        conditions = (np.zeros((0, 0), dtype=np.int64),) * 3
        if table.conditions is not None:
            entries = table.conditions
            mask_size = 1 << table.max_overrides
            has_entry = entries["min_0"].is_not_null().to_numpy()
            sheet_rows = table.sheet_rows.to_numpy().astype(np.int64)
            priced = np.flatnonzero(cell_sheet >= 0)
            rows_of = sheet_rows[cell_sheet[priced]]
            cell_cond[priced] = np.where(has_entry[rows_of], rows_of, -1)

            def slots_of(prefix: str) -> Ints:
                return np.stack(
                    [entries[f"{prefix}_{j}"].fill_null(-1).to_numpy() for j in range(table.max_overrides)],
                    axis=1,
                ).astype(np.int64)

            windows = slots_of("start"), slots_of("end")
            if not table.has_windows:
                windows = (np.zeros((len(has_entry), 0), dtype=np.int64),) * 2
            conditions = (slots_of("min"), *windows)
        slot_of_cell, slot_cell, slot_mask = self._slots(cell_sheet, cell_cond, mask_size)
        slots = len(slot_cell)
        group, group_size, group_values = self._groups()
        if slots * group_size * (3 + sum(given)) > _MAX_BUCKETS:
            return None
        sheet = cell_sheet[slot_cell]
        variant = np.where(
            sheet >= 0, table.variant_base.to_numpy()[np.maximum(sheet, 0)] + slot_mask, table.null_variant
        )
        # Masks a sheet does not have name no real variant, and no row lands there: clipped, only to index.
        variant = np.minimum(variant, table.null_variant)
        num = num_of[variant]
        coefficient = np.ascontiguousarray(coefficient_of[variant])
        missing = [i for i, g in enumerate(given) if not g]
        constant = (coefficient[:, missing] * defaults_of[missing]).sum(axis=1) % np.maximum(num, 1)
        codes, radixes = self.codes
        columns = [
            np.ascontiguousarray(self.frame[c].to_numpy(), dtype=np.int64) if g else None
            for c, g in zip(COUNT_COLUMNS, given, strict=True)
        ]
        compiled, checks = kernels.totals(
            codes,
            radixes,
            self.combo_lookup,
            self.periods,
            self.micros.to_numpy(),
            table.bounds.to_numpy(),
            _minute_arrays(table),
            slot_of_cell,
            cell_cond,
            conditions,
            group if group_size > 1 else None,
            slots,
            group_size,
            columns,
            num,
            den_of[variant],
            coefficient,
            constant,
        )
        if checks.negative or min(checks.rests) < 0:
            return None  # negative counts, or parts beyond their whole: rows the numpy path gives their reason
        self.rests = checks.rests
        self.largest = {c: checks.largest.get(c, DEFAULTS[c]) for c in COUNT_COLUMNS}
        if any(self.n * max(self.largest[c], 1) >= 2**62 for c, g in zip(COUNT_COLUMNS, given, strict=True) if g):
            return None  # an int64 sum could have wrapped around
        if _too_large({f"max_{c}": v for c, v in self.largest.items()}, table):
            return None  # the per-row path flags such rows (``partial_sums`` hands the batch to it)
        # Each bucket's code as the numpy path numbers it: ((group × n_cells) + cell) × mask_size + mask.
        bucket = np.arange(slots * group_size, dtype=np.int64)
        of_group, of_slot = bucket // slots, bucket % slots
        all_codes = (of_group * self.n_cells + slot_cell[of_slot]) * mask_size + slot_mask[of_slot]
        return compiled, all_codes, cell_sheet, mask_size, group_size, group_values

    def _slots(self, cell_sheet: Ints, cell_cond: Ints, mask_size: int) -> tuple[Ints, Ints, Ints]:
        """Where the fused pass adds each cell's rows: per cell its first slot, and per slot a cell it stands
        for and its override mask.

        The priced cells that share a listed sheet and the same names for the grouping keys (model, provider,
        endpoint) share their slots: their rows are priced alike, so their sums may be added, and the
        accumulators stay a few thousand hot rows (a cell each would be tens of thousands, mostly cold). A
        cell whose sheet has overrides takes a slot per mask; an unpriced cell keeps slots of its own, as its
        reason depends on its names."""
        n_cells = self.n_cells
        cells = np.arange(n_cells, dtype=np.int64)
        priced = cell_sheet >= 0
        named = [k for k in self.keys if k in KEY_PARTS]
        combo_key = np.zeros(len(self.resolutions), dtype=np.int64)
        for k in named:  # one integer per distinct tuple of the grouping names
            values = [parts.get(k) for parts in self.combo_parts]
            index = {v: i for i, v in enumerate(dict.fromkeys(values))}
            combo_key = combo_key * (len(index) + 1) + np.array([index[v] for v in values], dtype=np.int64)
        listing = self.table.variant_base.to_numpy()[np.maximum(cell_sheet, 0)]
        key = np.where(priced, combo_key[cells // self.periods] * (self.table.null_variant + 1) + listing, -1 - cells)
        distinct, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        width = np.where(cell_cond[first] >= 0, mask_size, 1)
        start = np.concatenate([[0], np.cumsum(width)[:-1]]).astype(np.int64)
        slot_of_cell = start[inverse]
        slot_cell = np.repeat(first, width).astype(np.int64)
        slot_mask = np.arange(int(width.sum()), dtype=np.int64) - np.repeat(start, width)
        del distinct
        return slot_of_cell, slot_cell, slot_mask

    def _compiled_sums(self, compiled: Ints, used: Ints) -> list[pl.Series]:
        rows = compiled[used, 0]
        out = []
        position = 1
        for column, name in zip(COUNT_COLUMNS, SUMS, strict=True):
            if column in self.given:
                out.append(_wide(name, compiled[used, position]))
                position += 1
            else:  # not given: the default on every row
                out.append(_wide(name, rows * (1 if column == "requests" else 0)))
        return out

    def _compiled_remainders(
        self, compiled: Ints, used: Ints, ok: npt.NDArray[np.bool_]
    ) -> tuple[pl.Series, pl.Series]:
        """Σ r and Σ rounded r of the ok buckets (the pass computed them for every discounted bucket)."""
        residue = np.where(ok, compiled[used, -2], 0)
        rounded = np.where(ok, compiled[used, -1], 0)
        return _wide("residue", residue), _wide("rounded", rounded)

    def _cell_sheets(self) -> tuple[Ints, Ints]:
        """The sheet in force (-1: none) and its source for every cell the batch uses."""
        per_cell = self.per_cell if self.per_cell is not None else np.bincount(self.cell, minlength=self.n_cells)
        used = np.flatnonzero(per_cell)
        sheet = np.full(self.n_cells, -1, dtype=np.int64)
        source = np.full(self.n_cells, 2, dtype=np.int64)
        found, where = self.table.sheets_in_periods(
            self.resolutions,
            pl.Series(used // self.periods, dtype=pl.Int64),
            pl.Series(used % self.periods, dtype=pl.Int64),
        )
        sheet[used] = found.cast(pl.Int64).to_numpy()
        source[used] = where.cast(pl.Int64).to_numpy()
        return sheet, source

    def _masks(self, cell_sheet: Ints) -> tuple[Ints, int]:
        """Per row, the bit mask of applying overrides (only rows of cells whose sheet has any; else 0)."""
        table = self.table
        if table.conditions is None:
            return np.zeros(0, dtype=np.int64), 1
        has_entry = table.conditions["min_0"].is_not_null().to_numpy()  # per distinct sheet
        sheet_rows = table.sheet_rows.to_numpy()
        cells = np.flatnonzero(cell_sheet >= 0)
        cell_has = np.zeros(self.n_cells, dtype=bool)
        cell_has[cells] = has_entry[sheet_rows[cell_sheet[cells]]]
        if not cell_has.any():
            return np.zeros(0, dtype=np.int64), 1
        rows = np.flatnonzero(cell_has[self.cell])
        if not len(rows):
            return np.zeros(0, dtype=np.int64), 1
        picked = pl.Series(rows)
        sub = pl.DataFrame(
            {
                "sheet_id": pl.Series(cell_sheet[self.cell[rows]], dtype=pl.Int64),
                "_ts": self.micros.gather(picked),
                "prompt_tokens": self.frame["prompt_tokens"].gather(picked),
            }
        )
        applied = sub.select(_override_mask(table).alias("m"))["m"].to_numpy()
        mask = np.zeros(self.n, dtype=np.int64)
        mask[rows] = applied
        return mask, 1 << table.max_overrides

    def _problems(self) -> tuple[Ints, int]:
        """Per row, 1 + the engine's problem code (0: the counts are fine); checked by reductions first."""
        frame = self.frame
        flags = [c for c in (NOT_WHOLE, BAD_TIME) if c in frame.columns]
        suspect = any(bool(frame[c].any()) for c in flags)
        suspect = suspect or self.negative
        if not suspect:
            for whole, parts in (("prompt_tokens", PROMPT_PARTS), ("completion_tokens", COMPLETION_PARTS)):
                used = [p for p in parts if p in self.given]
                if used:
                    rest = frame.select((pl.col(whole) - pl.sum_horizontal(used)).min()).item()
                    suspect = suspect or (rest is not None and rest < 0)
        if not suspect:
            return np.zeros(0, dtype=np.int64), 1
        code = frame.select(_problem_code(flags).alias("p"))["p"].to_numpy().astype(np.int64)
        return code + 1, len(_FIXED_REASONS) + 1

    def _groups(self) -> tuple[Ints, int, dict[str, Any]]:
        """Per row, its group among the keys not derived from the cell (day, other columns); no array (all
        rows in group 0) when there are none."""
        group: Any = np.zeros(0, dtype=np.int64)
        size = 1
        decoders: dict[str, Any] = {}
        for k in self.keys:
            if k in KEY_PARTS or k == "status":
                continue
            if k == "day":
                stamps = self.frame["timestamp"]
                days = (stamps.dt.epoch("us") // _DAY_US).to_numpy(allow_copy=True)
                valid = ~np.isnan(days) if days.dtype.kind == "f" else np.ones(len(days), dtype=bool)
                first = int(np.nanmin(days)) if valid.any() else 0
                codes = np.where(valid, np.nan_to_num(days, nan=0).astype(np.int64) - first, -1)
                span = int(codes.max()) + 2  # the last code stands for a null timestamp
                codes = np.where(codes < 0, span - 1, codes)
                decoders[k] = _day_decoder(first, span, size)
            else:
                series, names = _dense_codes(self.frame[k])
                codes, span = series.to_numpy(), len(names)
                decoders[k] = _name_decoder(k, names, size)
            group = codes * size if size == 1 else group + codes * size
            size *= span
        return group, size, decoders

    def _verdicts(self, combo_of: Ints, problem_of: Ints, sheet: Ints, variant: Ints) -> tuple[pl.Series, pl.Series]:
        """Each bucket's status and reason, in the per-row path's order of precedence (vectorised: a code
        per bucket, then one gather of the texts)."""
        fixed = len(_FIXED_REASONS)
        failed = np.array([r.reason is not None for r in self.resolutions] or [False], dtype=bool)[combo_of]
        dynamic = self.table.variants["dynamic"].to_numpy()[variant]
        code = np.where(
            failed & (sheet < 0),
            fixed + combo_of,
            np.where(problem_of > 0, problem_of - 1, np.where(sheet < 0, _NO_PRICE, np.where(dynamic, _DYNAMIC, -1))),
        )
        ok_code = fixed + len(self.resolutions)
        statuses = [s for s, _ in _FIXED_REASONS] + ["unknown"] * len(self.resolutions) + ["ok"]
        reasons = [r for _, r in _FIXED_REASONS] + [r.reason for r in self.resolutions] + [None]
        index = pl.Series(np.where(code < 0, ok_code, code))
        return (
            pl.Series("status", statuses, dtype=pl.String).gather(index),
            pl.Series("reason", reasons, dtype=pl.String).gather(index),
        )

    def _sums(self, bucket: Ints, space: int, used: Ints, rows: Ints) -> list[pl.Series]:
        """Σ of every count column per used bucket, exactly (chunked float sums, each below 2**53)."""
        out = []
        frame = self.frame
        for column, name in zip(COUNT_COLUMNS, SUMS, strict=True):
            if column not in self.given:
                value = 1 if column == "requests" else 0
                out.append(_wide(name, rows[used] * value))
                continue
            if self.largest[column] == 0:
                out.append(_wide(name, np.zeros(len(used), dtype=np.int64)))
                continue
            values = frame[column].to_numpy()
            out.append(_wide(name, _exact_bincount(bucket, values, space, used, self.largest[column])))
        return out

    def _remainders(
        self, bucket: Ints, space: int, used: Ints, variant: Ints, ok: npt.NDArray[np.bool_]
    ) -> tuple[pl.Series, pl.Series]:
        """Σ r and Σ ⌊(2·r·den + num) / (2·num)⌋ per bucket of a discounted variant (r = t mod num)."""
        table = self.table
        num = table.variants["discount_num"].to_list()
        den = table.variants["discount_den"].to_list()
        k = len(used)
        residue = [0] * k
        rounded = [0] * k
        discounted = [i for i in range(k) if ok[i] and num[variant[i]] != den[variant[i]] and num[variant[i]] > 0]
        if discounted:
            flag = np.zeros(space, dtype=bool)
            position = np.zeros(space, dtype=np.int64)
            flag[used[discounted]] = True
            position[used[discounted]] = discounted
            rows = np.flatnonzero(flag[bucket])
            at = position[bucket[rows]]  # each row's index among the used buckets
            nums = [num[variant[i]] for i in discounted]
            dens = [den[variant[i]] for i in discounted]
            parts = self._exclusive_parts(rows)
            rate_of = {rate: table.variants[rate].to_list() for _, rate in _LINEAR_TERMS}
            if max(nums) < _SMALL_MODULUS and max(dens) < _SMALL_MODULUS:
                # Per bucket (not per row): the modulus, the den and every rate modulo the bucket's num.
                n_b = np.zeros(k, dtype=np.int64)
                d_b = np.zeros(k, dtype=np.int64)
                n_b[discounted], d_b[discounted] = nums, dens
                n = n_b[at]
                r = np.zeros(len(rows), dtype=np.int64)
                for token, rate in _LINEAR_TERMS:
                    mod_b = np.zeros(k, dtype=np.int64)
                    mod_b[discounted] = [
                        int(rate_of[rate][variant[i]]) % m for i, m in zip(discounted, nums, strict=True)
                    ]
                    if not mod_b.any():
                        continue
                    r = (r + (parts[token] % n) * mod_b[at]) % n
                f = (2 * r * d_b[at] + n) // (2 * n)
                residue_sums = _exact_bincount(at, r, k, np.arange(k))
                rounded_sums = _exact_bincount(at, f, k, np.arange(k))
            else:  # many-digit discounts: Python integers, row by row (rare)
                residue_sums, rounded_sums = [0] * k, [0] * k
                for j, i in enumerate(at.tolist()):
                    vv = variant[i]
                    t = sum(int(parts[token][j]) * int(rate_of[rate][vv]) for token, rate in _LINEAR_TERMS)
                    nn, dd = num[vv], den[vv]
                    rr = t % nn
                    residue_sums[i] += rr
                    rounded_sums[i] += (2 * rr * dd + nn) // (2 * nn)
            for i in discounted:
                residue[i], rounded[i] = int(residue_sums[i]), int(rounded_sums[i])
        return pl.Series("residue", residue, dtype=pl.Int128), pl.Series("rounded", rounded, dtype=pl.Int128)

    def _exclusive_parts(self, rows: Ints) -> dict[str, Ints]:
        """The billed (exclusive) token counts of ``rows``: the uncached prompt and the plain output derived."""
        sub = self.frame.select(COUNT_COLUMNS)[pl.Series(rows)]
        parts = {c: sub[c].to_numpy() for c in COUNT_COLUMNS}
        parts["uncached_input"] = parts["prompt_tokens"] - sum(parts[c] for c in PROMPT_PARTS)
        parts["plain_output"] = parts["completion_tokens"] - sum(parts[c] for c in COMPLETION_PARTS)
        return parts


# (token expression, rate) of every billed term, as the engine bills them.
_LINEAR_TERMS: tuple[tuple[str, str], ...] = tuple(pair for parts in TERMS.values() for pair in parts)


def _money(partials: pl.DataFrame, table: PriceTable) -> list[pl.Series]:
    """Per partial row: units_total (+ Σ rate × Σ counts for its variant), units_base and units_saving,
    exactly: 128-bit columns when no product can come near 2**125 (checked from the maxima), else Python
    integers row by row."""
    if not partials.height:
        return _money_rows(partials, table)
    if _money_bound(partials, table) >= 2**120:
        return _money_rows(partials, table)
    variant = pl.col("variant").fill_null(table.null_variant)

    def rate_of(name: str) -> pl.Expr:
        return pl.lit(table.variants[name]).gather(variant)

    s = {c: pl.col(f"sum_{c}").cast(pl.Int128) for c in COUNT_COLUMNS}
    s["uncached_input"] = s["prompt_tokens"] - sum((s[c] for c in PROMPT_PARTS), pl.lit(0, pl.Int128))
    s["plain_output"] = s["completion_tokens"] - sum((s[c] for c in COMPLETION_PARTS), pl.lit(0, pl.Int128))
    total = sum((s[token] * rate_of(rate) for token, rate in _LINEAR_TERMS), pl.lit(0, pl.Int128))
    num, den = rate_of("discount_num"), rate_of("discount_den")
    residue, rounded = pl.col("residue").cast(pl.Int128), pl.col("rounded").cast(pl.Int128)
    base = pl.when(num == den).then(pl.col("_t")).when(num > 0).then(den * (pl.col("_t") - residue) // num + rounded)
    ok = (pl.col("status") == "ok") & (variant != table.null_variant)
    done = partials.select(
        pl.when(ok).then(total).otherwise(pl.lit(0, pl.Int128)).alias("_t"),
        variant,
        residue,
        rounded,
        pl.col("units_total", "units_base", "units_saving").cast(pl.Int128),
        ok.alias("_ok"),
    ).with_columns(pl.when(pl.col("_ok")).then(base).alias("_b"))
    return done.select(
        (pl.col("units_total") + pl.col("_t")).alias("units_total"),
        (pl.col("units_base") + pl.col("_b").fill_null(0)).alias("units_base"),
        (pl.col("units_saving") + (pl.col("_b") - pl.col("_t")).fill_null(0)).alias("units_saving"),
    ).get_columns()


def _money_bound(partials: pl.DataFrame, table: PriceTable) -> float:
    """An upper bound of any partial row's |total| × its discount's den (what the 128-bit path multiplies),
    from each row's own variant's rates (in floats, whose rounding is far below the margin left): one
    dear rate elsewhere in the table no longer sends every batch to Python integers."""
    variant = partials["variant"].fill_null(table.null_variant).to_numpy()
    magnitude = {c: np.abs(partials[f"sum_{c}"].cast(pl.Float64).to_numpy()) for c in COUNT_COLUMNS}
    magnitude["uncached_input"] = magnitude["prompt_tokens"] + sum(magnitude[c] for c in PROMPT_PARTS)
    magnitude["plain_output"] = magnitude["completion_tokens"] + sum(magnitude[c] for c in COMPLETION_PARTS)
    bound = np.zeros(len(variant))
    for token, rate in _LINEAR_TERMS:
        rates = np.abs(table.variants[rate].cast(pl.Float64).fill_null(0.0).to_numpy())[variant]
        bound += magnitude[token] * rates
    dens = np.abs(table.variants["discount_den"].cast(pl.Float64).fill_null(1.0).to_numpy())[variant]
    return float((4 * bound * np.maximum(dens, 1.0)).max(initial=0.0))


def _money_rows(partials: pl.DataFrame, table: PriceTable) -> list[pl.Series]:
    """``_money`` in Python integers, a partial row at a time (sums too large for 128-bit products)."""
    units_total = partials["units_total"].cast(pl.Int128).to_list()
    units_base = partials["units_base"].cast(pl.Int128).to_list()
    units_saving = partials["units_saving"].cast(pl.Int128).to_list()
    variants = partials["variant"].to_list()
    statuses = partials["status"].to_list()
    sums = {c: partials[f"sum_{c}"].to_list() for c in COUNT_COLUMNS}
    residue, rounded = partials["residue"].to_list(), partials["rounded"].to_list()
    rates = {rate: table.variants[rate].to_list() for _, rate in _LINEAR_TERMS}
    num, den = table.variants["discount_num"].to_list(), table.variants["discount_den"].to_list()
    for i, v in enumerate(variants):
        if statuses[i] != "ok" or v is None or v == table.null_variant:
            continue
        s = {c: int(sums[c][i]) for c in COUNT_COLUMNS}
        s["uncached_input"] = s["prompt_tokens"] - sum(s[c] for c in PROMPT_PARTS)
        s["plain_output"] = s["completion_tokens"] - sum(s[c] for c in COMPLETION_PARTS)
        total = sum(s[token] * int(rates[rate][v]) for token, rate in _LINEAR_TERMS)
        nn, dd = int(num[v]), int(den[v])
        units_total[i] = int(units_total[i] or 0) + total
        if nn <= 0:
            continue  # 1 − discount ≤ 0: no finite base; the per-row path leaves those rows' base null
        base = total if nn == dd else dd * (total - int(residue[i])) // nn + int(rounded[i])
        units_base[i] = int(units_base[i] or 0) + base
        units_saving[i] = int(units_saving[i] or 0) + base - total
    return [
        pl.Series("units_total", units_total, dtype=pl.Int128),
        pl.Series("units_base", units_base, dtype=pl.Int128),
        pl.Series("units_saving", units_saving, dtype=pl.Int128),
    ]


def _exact_bincount(bucket: Ints, values: Any, space: int, used: Ints, largest: int | None = None) -> Ints | list[int]:
    """Σ values per bucket for the ``used`` buckets, exactly: float sums in chunks whose every partial sum
    stays below 2**53 (so each is exact), added up as integers (int64 while the total bound fits, else
    Python integers). ``largest``: max |value|, when known."""
    n = len(bucket)
    if n == 0 or len(used) == 0:
        return np.zeros(len(used), dtype=np.int64)
    if largest is None:
        largest = int(max(abs(int(values.max())), abs(int(values.min()))))
    if largest == 0:
        return np.zeros(len(used), dtype=np.int64)
    step = max(1, _EXACT_FLOAT // largest - 1)
    if step >= n:
        return np.bincount(bucket, weights=values, minlength=space)[used].astype(np.int64)
    fits = n * largest < 2**63
    total: Any = np.zeros(len(used), dtype=np.int64) if fits else [0] * len(used)
    for start in range(0, n, step):
        part = np.bincount(bucket[start : start + step], weights=values[start : start + step], minlength=space)[used]
        if fits:
            total += part.astype(np.int64)
        else:
            total = [a + int(b) for a, b in zip(total, part.tolist(), strict=True)]
    return total  # type: ignore[no-any-return]


def _wide(name: str, values: Ints | list[int]) -> pl.Series:
    """Integer sums as a 128-bit column (from int64 arrays without a Python loop)."""
    if isinstance(values, np.ndarray):
        return pl.Series(name, values, dtype=pl.Int64).cast(pl.Int128)
    return pl.Series(name, values, dtype=pl.Int128)


def _too_large(extrema: dict[str, Any], table: PriceTable) -> bool:
    """Whether some row's cost, or its undiscounted base, could near 128 bits (the per-row path flags them)."""
    bound = 0
    for parts in TERMS.values():
        for token, rate in parts:
            bound += max(int(extrema["max_" + _WHOLE.get(token, token)] or 0), 0) * table.variant_rate_max[rate]
    if bound >= _I128_SAFE:
        return True
    if table.has_discounts:
        num = [int(x) for x in table.variants["discount_num"].drop_nulls().to_list()]
        den = [int(x) for x in table.variants["discount_den"].drop_nulls().to_list()]
        steepest = max((d / n for n, d in zip(num, den, strict=True) if n > 0), default=1.0)
        return bound * steepest * 2 >= 2**125
    return False


def _partials_from_rows(frame: pl.DataFrame, table: PriceTable, keys: list[str], at: datetime) -> pl.DataFrame:
    """The per-row path's money summed per (group, status, reason), in the partial-sums layout."""
    priced = cost_usage(frame, table, at=at, breakdown=False, money="units")
    if "day" in keys:
        priced = priced.with_columns(pl.col("timestamp").dt.date().alias("day"))
    by = [*keys, "status", "reason"] if "status" not in keys else [*keys, "reason"]
    ok = pl.col("status") == "ok"
    grouped = (
        priced.with_columns(
            *[pl.col(k).cast(pl.String) for k in keys if k != "day"],
            pl.col("status").cast(pl.String),
            pl.col("reason").cast(pl.String),
        )
        .group_by(by, maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("rows"),
            pl.col("cost_total").filter(ok).sum().cast(pl.Int128).alias("units_total"),
            pl.col("cost_base").filter(ok).sum().cast(pl.Int128).alias("units_base"),
            pl.col("saving").filter(ok).sum().cast(pl.Int128).alias("units_saving"),
        )
    )
    if "status" in keys:
        grouped = grouped.with_columns(pl.col("status").alias("status"))
    zero = pl.lit(0, pl.Int128)
    return grouped.with_columns(
        pl.lit(table.null_variant, pl.Int64).alias("variant"),
        *[zero.alias(c) for c in (*SUMS, "residue", "rounded")],
    ).select(*keys, *[c for c in PARTIAL_COLUMNS if c not in keys])


def _empty(keys: list[str]) -> pl.DataFrame:
    schema: dict[str, Any] = {k: (pl.Date if k == "day" else pl.String) for k in keys if k != "status"}
    schema |= {"variant": pl.Int64, "status": pl.String, "reason": pl.String, "rows": pl.Int64}
    schema |= {c: pl.Int128 for c in (*SUMS, "residue", "rounded", "units_total", "units_base", "units_saving")}
    return pl.DataFrame(schema=schema).select(*keys, *[c for c in PARTIAL_COLUMNS if c not in keys])


def _raw_combos(
    frame: pl.DataFrame, table: PriceTable
) -> tuple[Ints, int, Ints, list[Resolution], list[dict[str, str | None]]]:
    """Each row's (model, provider, endpoint) as one integer straight from the categorical codes (no dense
    renumbering per row), the size of that space, the map from it to distinct combos, and per combo its
    resolution and names. A space too large for dense tables falls back to the engine's dense codes."""
    present = ["model"] + [c for c in ("provider", "endpoint") if frame[c].null_count() < frame.height]
    combined: Ints | None = None
    space = 1
    columns = []
    for name in present:
        column = frame[name]
        if not isinstance(column.dtype, pl.Categorical | pl.Enum):
            column = column.cast(pl.String).cast(pl.Categorical)
        physical = column.to_physical()
        top = physical.max()
        null_code = 0 if top is None else int(top) + 1  # type: ignore[arg-type]
        codes = (physical.fill_null(null_code) if physical.null_count() else physical).to_numpy().astype(np.int64)
        combined = codes if combined is None else combined * (null_code + 1) + codes
        space *= null_code + 1
        columns.append(column)
        if space > _MAX_BUCKETS:
            break
    assert combined is not None
    if space > _MAX_BUCKETS:  # a huge categorical pool: number the combos densely instead
        combo, resolutions, named = _combos(frame, table)
        dense = combo.cast(pl.Int64).to_numpy()
        return dense, len(resolutions), np.arange(len(resolutions), dtype=np.int64), resolutions, named
    used = np.flatnonzero(np.bincount(combined, minlength=space))
    row_of = np.zeros(space, dtype=np.int64)
    row_of[combined] = np.arange(len(combined))  # any row holding a code names it
    picked = pl.Series(row_of[used])
    names = {
        name: column.gather(picked).cast(pl.String).to_list() for name, column in zip(present, columns, strict=True)
    }
    lookup = np.full(space, -1, dtype=np.int64)
    lookup[used] = np.arange(len(used))
    parts = [{name: names[name][i] for name in present} for i in range(len(used))]
    resolutions = [table.resolve(p.get("model"), p.get("provider"), p.get("endpoint")) for p in parts]
    return combined, space, lookup, resolutions, parts


def _day_decoder(first: int, span: int, size: int) -> Any:
    def decode(group: Ints) -> pl.Series:
        code = (group // size) % span
        days = [None if c == span - 1 else first + c for c in code.tolist()]
        return pl.Series("day", days, dtype=pl.Int32).cast(pl.Date)

    return decode


def _name_decoder(name: str, names: list[str | None], size: int) -> Any:
    def decode(group: Ints) -> pl.Series:
        code = (group // size) % len(names)
        return pl.Series(name, [names[c] for c in code.tolist()], dtype=pl.String)

    return decode


def _kernel_combos(
    frame: pl.DataFrame, table: PriceTable
) -> tuple[list[Any], list[int], Ints, list[Resolution], list[dict[str, str | None]]] | None:
    """``_raw_combos`` for the compiled pass: each key column's categorical codes as they are (no combined
    integer per row), the radixes, the map from a combined code to its combo, and per combo its resolution and
    names. None when the combined space is too large for a dense map."""
    present = ["model"] + [c for c in ("provider", "endpoint") if frame[c].null_count() < frame.height]
    codes: list[Any] = []
    radixes: list[int] = []
    columns = []
    space = 1
    for name in present:
        column = frame[name]
        if not isinstance(column.dtype, pl.Categorical | pl.Enum):
            column = column.cast(pl.String).cast(pl.Categorical)
        physical = column.to_physical()
        top = physical.max()
        null_code = 0 if top is None else int(top) + 1  # type: ignore[arg-type]
        codes.append(_nullable(physical) if physical.null_count() else physical.to_numpy())
        radixes.append(null_code + 1)
        columns.append(column)
        space *= null_code + 1
        if space > _MAX_BUCKETS:
            return None
    row_of = kernels.seen(codes, radixes, space)
    used = np.flatnonzero(row_of >= 0)
    picked = pl.Series(row_of[used])
    names = {
        name: column.gather(picked).cast(pl.String).to_list() for name, column in zip(present, columns, strict=True)
    }
    lookup = np.full(space, -1, dtype=np.int64)
    lookup[used] = np.arange(len(used))
    parts = [{name: names[name][i] for name in present} for i in range(len(used))]
    resolutions = _resolutions(table, parts)
    return codes, radixes, lookup, resolutions, parts


def _nullable(physical: pl.Series) -> Any:
    """Codes with nulls as the compiled passes read them: Arrow's values and validity bitmap in place (a
    filled copy of a column of 10**7 codes cost as much as the pass that finds the distinct ones)."""
    array = physical.to_arrow()
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    bitmap, values = array.buffers()[:2]
    if bitmap is None or values is None:  # (no nulls after all, or an unexpected layout): a filled copy
        return physical.fill_null(int(physical.max() or 0) + 1).to_numpy()  # type: ignore[arg-type]
    start = array.offset
    codes = np.frombuffer(values, dtype=array.type.to_pandas_dtype())[start : start + len(array)]
    return kernels.Nullable(codes, np.frombuffer(bitmap, dtype=np.uint8), start)


def _minute_arrays(table: PriceTable) -> tuple[int, Any, Ints] | None:
    """The table's per-minute period index as numpy arrays (None: the rows binary-search the bounds)."""
    found = table._minute_table()
    if found is None:
        return None
    first, start_period, padded = found
    return first, start_period.to_numpy(), padded.to_numpy()


_Names = tuple[str | None, str | None, str | None]
# Per table, what each (model, provider, endpoint) named in usage resolves to and its sheet in every period:
# a table is never changed once built (``extend`` makes a new one), and the names repeat from batch to batch
# (a streamed file's, the API's), so each is resolved once per table.
_BY_NAMES: weakref.WeakKeyDictionary[PriceTable, dict[_Names, tuple[Resolution, Ints | None]]] = (
    weakref.WeakKeyDictionary()
)


def _names(parts: dict[str, str | None]) -> _Names:
    return parts.get("model"), parts.get("provider"), parts.get("endpoint")


_MAX_NAMES = 200_000  # names remembered per table; past that the memo starts again (names sent at random)


def _resolutions(table: PriceTable, parts: list[dict[str, str | None]]) -> list[Resolution]:
    known = _BY_NAMES.setdefault(table, {})
    if len(known) + len(parts) > _MAX_NAMES:
        known.clear()
    out = []
    for p in parts:
        names = _names(p)
        found = known.get(names)
        if found is None:
            found = known[names] = (table.resolve(*names), None)
        out.append(found[0])
    return out


def _cell_sheets_of(table: PriceTable, parts: list[dict[str, str | None]], resolutions: list[Resolution]) -> Ints:
    """The sheet (-1: none) of every cell, combo × period, combo by combo from the per-table memo."""
    periods = table.n_periods
    known = _BY_NAMES.setdefault(table, {})
    names = [_names(p) for p in parts]
    fresh = [i for i, n in enumerate(names) if known.get(n, (None, None))[1] is None]
    if fresh:
        combo = np.repeat(np.arange(len(fresh), dtype=np.int64), periods)
        period = np.tile(np.arange(periods, dtype=np.int64), len(fresh))
        found, _ = table.sheets_in_periods([resolutions[i] for i in fresh], pl.Series(combo), pl.Series(period))
        sheets = found.cast(pl.Int64).to_numpy().reshape(len(fresh), periods)
        for row, i in enumerate(fresh):
            known[names[i]] = (resolutions[i], sheets[row].copy())
    if not names:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([known[n][1] for n in names])


_RESIDUES: weakref.WeakKeyDictionary[PriceTable, tuple[Ints, Ints, Ints, Ints] | None] = weakref.WeakKeyDictionary()


def _variant_residues(table: PriceTable) -> tuple[Ints, Ints, Ints, Ints] | None:
    """Per variant, what the compiled pass needs for the undiscounted base's remainders: each count column's
    rate (the sum of the rates of the terms it enters, with the parts inside a whole subtracted) modulo the
    discount's ``num``, ``num`` (0 where there is no discount) and ``den``; and each column's default. None
    when some discount fraction has many digits (the numpy path's Python integers handle those)."""
    if table in _RESIDUES:
        return _RESIDUES[table]
    nums = table.variants["discount_num"].to_list()
    dens = table.variants["discount_den"].to_list()
    found: tuple[Ints, Ints, Ints, Ints] | None = None
    small = all(
        n is None or (abs(int(n)) < _SMALL_MODULUS and abs(int(d)) < _SMALL_MODULUS)
        for n, d in zip(nums, dens, strict=True)
    )
    if small:
        rates = {rate: table.variants[rate].to_list() for _, rate in _LINEAR_TERMS}
        # Each token of the terms as +/- the count columns: the derived ones are their whole less its parts.
        shares: list[tuple[str, list[tuple[str, int]]]] = []
        for token, rate in _LINEAR_TERMS:
            if token == "uncached_input":
                shares.append((rate, [("prompt_tokens", 1), *[(c, -1) for c in PROMPT_PARTS]]))
            elif token == "plain_output":
                shares.append((rate, [("completion_tokens", 1), *[(c, -1) for c in COMPLETION_PARTS]]))
            else:
                shares.append((rate, [(token, 1)]))
        index = {c: i for i, c in enumerate(COUNT_COLUMNS)}
        k = len(nums)
        coefficient = np.zeros((k, len(COUNT_COLUMNS)), dtype=np.int64)
        num = np.zeros(k, dtype=np.int64)
        den = np.ones(k, dtype=np.int64)
        for v in range(k):
            n, d = nums[v], dens[v]
            if n is None or n <= 0 or n == d:
                continue  # no discount (or no finite base): no remainder to track
            num[v], den[v] = n, d
            per_column = [0] * len(COUNT_COLUMNS)
            for rate, parts in shares:
                value = int(rates[rate][v] or 0)
                for column, sign in parts:
                    per_column[index[column]] += sign * value
            coefficient[v] = [x % n for x in per_column]
        defaults = np.array([1 if c == "requests" else 0 for c in COUNT_COLUMNS], dtype=np.int64)
        found = (coefficient, num, den, defaults)
    _RESIDUES[table] = found
    return found
