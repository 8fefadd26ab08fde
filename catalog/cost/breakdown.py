"""The per-row breakdown in one compiled pass (numba, ``pip install '.[fast]'``): verdicts, terms and money.

Once each row's sheet is known, the rest of the per-row path is a chain of small steps per row: which override
entries apply, why the row cannot be priced (if it cannot), each term's
count × rate, the total, the undiscounted base and the saving. As Polars expressions those are some forty
passes over the rows, each with its own column, and money in 128-bit columns converted to ``Decimal`` at the end.
Here it is one pass (``_rows``) that writes each money column straight into the buffer of an Arrow
``decimal128`` array (two little-endian 64-bit limbs a value), which Polars takes over without a copy,
the undiscounted base and saving of discounted rows included (``_base``). For a large
batch the pass also finds each row's sheet (``Keys``): from the key columns' categorical codes and the
timestamp to the row's cell (its distinct model/provider/endpoint × the period between two price changes), whose
sheet the engine looked up once per price table; a small batch's sheets are looked up per row and given.

Money is two's-complement 128-bit integers of ``10**-scale`` USD kept as two ``uint64`` limbs: a count (a
non-negative int64 on every priced row) times a 128-bit rate is the 64×64 → 128-bit product of the count and the
rate's low limb plus the count times its high limb in the high limb (mod 2**128, which is exact as long as the
cost fits: the engine flags rows that could not fit as too large before they get here). The base
``total × den / num`` rounded half up is a long division by the 31-bit ``num`` in 32-bit digits. Rows outside
what the pass handles (a negative total, or a discount fraction with more than 31 bits) are left to the engine's
Python integers (``fallback``), so every result is the one the Polars expressions give (``tests/test_cost_rows.py``
compares the two on random tables).

Columns no row can bill (no rate of the table is non-zero, or no row counts anything for it) are not written:
their values buffer is ``np.zeros``, whose pages the system maps only when written, so they cost the validity
bitmap alone; a zero term is not written either. Without discounted rows ``cost_base`` shares the total's
buffer and ``saving`` a zero one.
"""

from __future__ import annotations

import mmap
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from catalog.cost.kernels import claim, jit, numba

Ints = npt.NDArray[np.int64]

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)
_S63 = np.uint64(63)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_TOP126 = np.uint64(1 << 62)  # a high limb at or above this: the value is ≥ 2**126
# Per variant, how its undiscounted base is found (``base_kind``).
SAME, DIVIDE, NO_BASE, PYTHON = 0, 1, 2, 3
_BLOCK = 1024  # rows whose counts are gathered at a time (k × 8 KiB: within the L1/L2 cache)
_GRAB = 16 * _BLOCK  # rows a thread claims at a time (a multiple of ``_BLOCK``: a block never spans two)
MAX_FRACTION = 2**31  # num and den below this take the compiled division (2·r·d + n stays within 64 bits)


_madd: Any  # (hi, lo) + count × (rate_hi, rate_lo) mod 2**128, each an uint64 limb
if numba is not None:
    from llvmlite import ir

    def _madd_typing(typingctx: Any, hi: Any, lo: Any, count: Any, rate_hi: Any, rate_lo: Any) -> Any:
        """In 128-bit LLVM integers, which the compiler turns into one 64 × 64 → 128-bit multiply, an ``imul``
        and an add with carry (``_mul64`` through 32-bit halves takes about twice the instructions)."""
        types: Any = numba.core.types
        u64 = types.uint64
        signature = types.UniTuple(u64, 2)(u64, u64, u64, u64, u64)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            wide, narrow = ir.IntType(128), ir.IntType(64)
            shift = ir.Constant(wide, 64)

            def join(high: Any, low: Any) -> Any:
                return builder.or_(builder.shl(builder.zext(high, wide), shift), builder.zext(low, wide))

            acc_hi, acc_lo, n, r_hi, r_lo = args
            acc = builder.add(join(acc_hi, acc_lo), builder.mul(builder.zext(n, wide), join(r_hi, r_lo)))
            parts = [builder.trunc(builder.lshr(acc, shift), narrow), builder.trunc(acc, narrow)]
            return context.make_tuple(builder, sig.return_type, parts)

        return signature, codegen

    _madd = numba.extending.intrinsic(_madd_typing)
else:

    def _madd(hi: Any, lo: Any, count: Any, rate_hi: Any, rate_lo: Any) -> Any:
        """Python integers where numba is absent (the engine does not call the pass then)."""
        value = ((int(hi) << 64 | int(lo)) + int(count) * (int(rate_hi) << 64 | int(rate_lo))) % 2**128
        return np.uint64(value >> 64), np.uint64(value & _U64)


@jit(inline="always")
def _mul64(a: Any, b: Any) -> tuple[Any, Any]:  # pragma: no cover - compiled
    """The full 128-bit product of two uint64, as (high, low) limbs, through 32-bit halves."""
    a0, a1 = a & _M32, a >> _S32
    b0, b1 = b & _M32, b >> _S32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _S32) + (p01 & _M32) + (p10 & _M32)
    return p11 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32), (mid << _S32) | (p00 & _M32)


@jit(inline="always")
def _find_sheets(  # noqa: C901  # pragma: no cover - compiled
    lo: int,
    size: int,
    keys: Any,
    valid: Any,
    valid_from: Ints,
    radix: Ints,
    cell_of: Ints,
    cells: Any,
    minutes: Any,
    found: Ints,
    sheet_out: Any,
    source_out: Any,
) -> None:
    """Rows ``lo`` to ``lo + size``: each one's cell (``found[0]``) and sheet (``found[1]``, also written to
    ``sheet_out`` and its source to ``source_out``) from its key codes and instant (see ``_rows``).

    Step by step in short loops over the block: as one chain per row (code, combo, period, cell, sheet),
    each row's loads waited on each other and the rest of the row on them."""
    c0, c1, c2 = keys  # written out for the three key columns: a tuple indexed at run time branches per access
    v0, v1, v2 = valid
    code = found[0]
    for b in range(size):
        code[b] = c0[lo + b]
    if len(v0):  # a null (validity bit 0) reads as the column's null code, its radix − 1
        for b in range(size):
            at = lo + b + valid_from[0]
            code[b] = code[b] if (v0[at >> 3] >> (at & 7)) & 1 else radix[0] - 1
    if len(radix) > 1:
        for b in range(size):
            code[b] = code[b] * radix[1] + np.int64(c1[lo + b])
        if len(v1):
            for b in range(size):
                at = lo + b + valid_from[1]
                if not (v1[at >> 3] >> (at & 7)) & 1:
                    code[b] = code[b] - np.int64(c1[lo + b]) + radix[1] - 1
    if len(radix) > 2:
        for b in range(size):
            code[b] = code[b] * radix[2] + np.int64(c2[lo + b])
        if len(v2):
            for b in range(size):
                at = lo + b + valid_from[2]
                if not (v2[at >> 3] >> (at & 7)) & 1:
                    code[b] = code[b] - np.int64(c2[lo + b]) + radix[2] - 1
    for b in range(size):
        code[b] = cell_of[code[b]]  # the combo's first cell
    cell = found[1]
    first, start_period, padded, bounds, micros = minutes
    if len(start_period):  # the period from the per-minute table, as ``PriceTable.period_of`` reads it
        origin = first * 60_000_000
        last = len(start_period) - 1
        for b in range(size):
            d = micros[lo + b] - origin
            m = np.int64(np.uint64(d) // np.uint64(60_000_000)) if d >= 0 else 0
            cell[b] = start_period[m if m < last else last]
        for b in range(size):
            cell[b] += 1 if micros[lo + b] >= padded[cell[b]] else 0
    else:
        for b in range(size):
            cell[b] = np.searchsorted(bounds, micros[lo + b], side="right")
    for b in range(size):
        code[b] += cell[b]
        cell[b] = cells[code[b]]
    for b in range(size):
        sheet_out[lo + b] = cell[b] >> 2
        source_out[lo + b] = cell[b] & 3
        cell[b] >>= 2


@jit(parallel=True)
def _rows(  # noqa: C901 - one pass, written out for speed
    sheet: Any,
    source: Any,
    combo: Any,
    micros: Any,
    keys: Any,
    key_valid: Any,
    key_from: Ints,
    radix: Ints,
    cell_of: Ints,
    periods: int,
    cells: Any,
    minute_first: int,
    minute_start: Any,
    minute_padded: Ints,
    bounds: Ints,
    counts: Any,
    strides: Ints,
    given: Any,
    given_stride: int,
    flags: Any,
    flag_strides: Ints,
    combo_reason: Any,
    sheet_row: Any,
    variant_base: Any,
    cond_count: Ints,
    cond_min: Ints,
    cond_start: Ints,
    cond_end: Ints,
    dynamic: Any,
    group_start: Ints,
    group_row: Ints,
    piece_count: Ints,
    rates: Any,
    base_kind: Any,
    num: Ints,
    den: Ints,
    terms: int,
    prompt_parts: Ints,
    completion_parts: Ints,
    chunks: int,
    code: Any,
    mask_out: Any,
    sheet_out: Any,
    source_out: Any,
    out: Any,
    base: Any,
    saving: Any,
    aside: Any,
) -> Ints:  # pragma: no cover - compiled
    """Per row: ``code`` (the reason code, -1: priced), ``mask_out`` (the applying override entries), the
    money limbs in ``out`` (one row per written term, then the total; ``terms`` of them before it; it arrives
    zeroed (``pages``), and an unpriced row's money is left so), ``sheet_out`` and ``source_out`` (the sheet
    in force, -1: none, and where it came from); where ``base`` is not empty, each priced row's undiscounted
    base there, the saving of a discounted one in ``saving``, and in ``aside`` -1 for a discounted row without
    a base and the variant + 1 for one whose base is left to the caller (``_base``). Returns per chunk [priced
    rows, rows with a discount, of those without a base, of those left to the caller].

    Each row's sheet is either given (``sheet``, ``source``, ``combo`` per row; ``radix`` empty) or found here
    (``radix`` not empty; ``sheet`` and the rest empty): the row's key codes (``keys``, up to three, with
    their validity bitmaps) combine into one code, ``cell_of`` maps it to its combo's first cell (combo ×
    ``periods``), the instant gives the period (``minute_*``, or ``bounds`` searched when there is no minute
    table), and ``cells`` per cell its sheet × 4 + source, as ``PriceTable.lookup`` finds them. (Given sheets
    come with ``periods`` 1, so that a row's combo is its cell // ``periods`` either way.)

    ``counts`` is a tuple in ``COUNT_COLUMNS`` order, each of length n (stride 1) or one value for every row
    (stride 0); ``piece_count`` names a count by its index there, -1 for the uncached input (prompt minus its
    parts) and -2 for the plain output. ``flags``: not-whole, bad-time, too-large, each a stride-0 False when
    absent. The reason codes and their order are the engine's (``catalog.cost.engine._FIXED_REASONS``)."""
    n = len(micros)
    claimed = np.zeros(1, dtype=np.int64)
    keyed = len(radix) > 0
    minutes = (minute_first, minute_start, minute_padded, bounds, micros)
    windows = cond_start.shape[1] > 0
    k = len(strides)
    tally = np.zeros((chunks, 4), dtype=np.int64)
    not_whole, bad_time, too_large = flags
    nw_s, bt_s, tl_s = flag_strides[0], flag_strides[1], flag_strides[2]
    # Negative counts: the columns that vary are checked per row, the ones holding one value once.
    varying = np.array([j for j in range(k) if strides[j]], dtype=np.int64)
    constant_or = 0
    for j in range(k):
        if not strides[j]:
            constant_or |= counts[j][0]
    groups = len(group_row)
    for part in numba.prange(chunks):
        priced = 0
        discounted = 0
        no_base = 0
        left = 0
        block = np.empty((k, _BLOCK), dtype=np.int64)  # column-major: the copy writes whole lines
        found = np.empty((2, _BLOCK), dtype=np.int64)  # the block's combos and sheets
        for j in range(k):
            if not strides[j]:  # one value on every row: written once
                block[j, :] = counts[j][0]
        # Rows claimed a stretch at a time (``_GRAB``), whichever thread is free: with a fixed share each,
        # the pass waited on a thread whose core another process shared.
        while True:
            first = claim(claimed, _GRAB)
            if first >= n:
                break
            stop = min(n, first + _GRAB)
            for i in range(first, stop):
                # The counts of a block of rows side by side, column by column: picking a column out of the tuple
                # by a run-time index costs more than the copy, so it happens once a column per block.
                r = (i - first) % _BLOCK
                if r == 0:
                    size = min(_BLOCK, stop - i)
                    for j in varying:
                        column = counts[j]
                        for b in range(size):
                            block[j, b] = column[i + b]
                    if keyed:
                        _find_sheets(
                            i,
                            size,
                            keys,
                            key_valid,
                            key_from,
                            radix,
                            cell_of,
                            cells,
                            minutes,
                            found,
                            sheet_out,
                            source_out,
                        )
                    else:
                        for b in range(size):
                            found[0, b] = combo[i + b]
                            found[1, b] = sheet[i + b]
                            sheet_out[i + b] = sheet[i + b]
                            source_out[i + b] = source[i + b]
                # (no view of the block's row: each view would count a reference to it, per row)
                prompt = block[0, r]
                s = found[1, r]
                at = s if s >= 0 else 0
                cond = sheet_row[at]
                mask = 0
                for j in range(cond_count[cond]):  # the sheet's override entries, in order
                    if prompt >= cond_min[cond, j]:
                        inside = True
                        if windows:
                            start = cond_start[cond, j]
                            end = cond_end[cond, j]
                            if start >= 0 and end >= 0:
                                minute = (micros[i] // 60_000_000) % 1440
                                if start <= end:
                                    inside = minute >= start and minute < end
                                else:  # the window wraps past midnight
                                    inside = minute >= start or minute < end
                        if inside:
                            mask |= 1 << j
                mask_out[i] = mask
                variant = variant_base[at] + mask
                # The reason, in the engine's order of precedence.
                reason = -1
                g = given[i * given_stride]
                rest_prompt = prompt
                for j in range(len(prompt_parts)):
                    rest_prompt -= block[prompt_parts[j], r]
                rest_completion = block[1, r]
                for j in range(len(completion_parts)):
                    rest_completion -= block[completion_parts[j], r]
                if g >= 0:
                    reason = g
                elif s < 0 and combo_reason[found[0, r] // periods] >= 0:
                    reason = combo_reason[found[0, r] // periods]
                elif too_large[i * tl_s]:
                    reason = 5
                elif bad_time[i * bt_s]:
                    reason = 6
                else:
                    ored = constant_or
                    for j in range(len(varying)):
                        ored |= block[varying[j], r]
                    if ored < 0 or not_whole[i * nw_s]:
                        reason = 0
                    elif rest_prompt < 0:
                        reason = 1
                    elif rest_completion < 0:
                        reason = 2
                    elif s < 0:
                        reason = 3
                    elif dynamic[variant]:
                        reason = 4
                code[i] = reason
                if reason >= 0:  # (its money stays 0: ``out`` arrives zeroed)
                    continue
                priced += 1
                total_hi = _ZERO
                total_lo = _ZERO
                # A term's pieces, added up before the term is written; every written term is some group's, so
                # each is written on a priced row where it is not zero (the zeroed ``out`` needs no write first).
                for q in range(groups):
                    term_hi = _ZERO
                    term_lo = _ZERO
                    for p in range(group_start[q], group_start[q + 1]):
                        c = piece_count[p]
                        if c == -1:
                            count = rest_prompt
                        elif c == -2:
                            count = rest_completion
                        else:
                            count = block[c, r]
                        term_hi, term_lo = _madd(
                            term_hi, term_lo, np.uint64(count), rates[variant, p, 0], rates[variant, p, 1]
                        )
                    t = group_row[q]
                    # -1: the total only (no breakdown). A zero term is not written: ``out`` arrives zeroed, and a
                    # page of a column no row of it bills (requests where no sheet prices them) is never faulted in.
                    if t >= 0 and (term_lo | term_hi) != _ZERO:
                        out[t, 2 * i] = term_lo
                        out[t, 2 * i + 1] = term_hi
                    new = total_lo + term_lo
                    total_hi = total_hi + term_hi + (_ONE if new < total_lo else _ZERO)
                    total_lo = new
                out[terms, 2 * i] = total_lo
                out[terms, 2 * i + 1] = total_hi
                if len(base):  # the undiscounted base: the total, or the total divided (``_base``)
                    base[2 * i] = total_lo
                    base[2 * i + 1] = total_hi
                    kind = base_kind[variant]
                    if kind != SAME:
                        discounted += 1
                        state = _base(total_hi, total_lo, kind, num[variant], den[variant], base, saving, i)
                        if state == 1:
                            aside[i] = -1
                            no_base += 1
                        elif state == 2:
                            aside[i] = variant + 1
                            left += 1
        tally[part, 0] = priced
        tally[part, 1] = discounted
        tally[part, 2] = no_base
        tally[part, 3] = left
    return tally


@jit(inline="always")
def _base(
    t_hi: Any, t_lo: Any, kind: Any, num: Any, den: Any, base: Any, saving: Any, i: int
) -> int:  # pragma: no cover - compiled
    """Row ``i``'s ``cost_base`` = total × den / num rounded half up, and ``saving`` = base − total, for a
    discounted variant (``kind`` not ``SAME``). ``base`` holds the total already, ``saving`` arrives zeroed
    (``pages``); both are written only when the base is found here. Returns 0 done, 1 no base (null:
    1 − discount ≤ 0, or a base of 2**126 or more), 2 left to the caller's Python integers (a negative total
    or a fraction beyond ``MAX_FRACTION``)."""
    if kind == NO_BASE:
        return 1
    if kind == PYTHON or (t_hi >> _S63) != _ZERO:
        return 2
    nn = np.uint64(num)
    dd = np.uint64(den)
    # t = q·n + r, by 32-bit digits from the top: each partial dividend (r·2**32 + digit) < n·2**32.
    r = _ZERO
    q3 = ((r << _S32) | (t_hi >> _S32)) // nn
    r = ((r << _S32) | (t_hi >> _S32)) % nn
    q2 = ((r << _S32) | (t_hi & _M32)) // nn
    r = ((r << _S32) | (t_hi & _M32)) % nn
    q1 = ((r << _S32) | (t_lo >> _S32)) // nn
    r = ((r << _S32) | (t_lo >> _S32)) % nn
    q0 = ((r << _S32) | (t_lo & _M32)) // nn
    r = ((r << _S32) | (t_lo & _M32)) % nn
    q_hi = (q3 << _S32) | q2
    q_lo = (q1 << _S32) | q0
    # q·d: beyond 2**126 (the engine's limit for a base) the row has no base.
    lo_hi, lo_lo = _mul64(q_lo, dd)
    up_hi, up_lo = _mul64(q_hi, dd)
    b_hi = lo_hi + up_lo
    if up_hi != _ZERO or b_hi < lo_hi or b_hi >= _TOP126:
        return 1
    half = (_ONE + _ONE) * r * dd + nn
    extra = half // ((_ONE + _ONE) * nn)
    b_lo = lo_lo + extra
    b_hi = b_hi + (_ONE if b_lo < lo_lo else _ZERO)
    if b_hi >= _TOP126:
        return 1
    base[2 * i] = b_lo
    base[2 * i + 1] = b_hi
    saving[2 * i] = b_lo - t_lo
    saving[2 * i + 1] = b_hi - t_hi - (_ONE if b_lo < t_lo else _ZERO)
    return 0


# -- the driver ---------------------------------------------------------------------------------------------

_U64 = (1 << 64) - 1
_tables: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
_minute_tables: weakref.WeakKeyDictionary[Any, tuple[int, Any, Ints, Ints]] = weakref.WeakKeyDictionary()


_TWO64 = pl.lit(2**64, pl.Int128)


def _column_limbs(column: pl.Series) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """An Int128 column's values (null: 0) as their two's-complement (high, low) 64-bit limbs, vectorised: floor
    division and modulo by 2**64 give the high limb as a signed 64-bit number and the low one as an unsigned one,
    whose bits are the limbs. (Through Python integers this was most of a table's first cost call: ~13,000
    variants × 12 rates at ten times today's endpoints.)"""
    value = pl.lit(column).fill_null(0)
    limbs = pl.select(hi=(value // _TWO64).cast(pl.Int64), lo=(value % _TWO64).cast(pl.UInt64))
    return (
        np.array(limbs["hi"].to_numpy(), dtype=np.int64).view(np.uint64),
        np.array(limbs["lo"].to_numpy(), dtype=np.uint64),
    )


def _signed(hi: int, lo: int) -> int:
    value = (hi << 64) | lo
    return value - (1 << 128) if hi >> 63 else value


def table_arrays(table: Any, rate_names: tuple[str, ...]) -> dict[str, Any]:
    """What the pass reads from the price table, as numpy arrays; built once per table (it never changes)."""
    cached = _tables.get(table)
    if cached is not None:
        return cached
    variants = table.variants
    rates = {name: _column_limbs(variants[name]) for name in rate_names}
    # The undiscounted base's kind per variant (null: 0, as a row with no price has no base to compute).
    num, den = pl.col("discount_num").fill_null(0), pl.col("discount_den").fill_null(0)
    kind_of = (
        pl.when(num == den)
        .then(SAME)
        .when(num <= 0)
        .then(NO_BASE)
        .when((num < MAX_FRACTION) & (den > 0) & (den < MAX_FRACTION))
        .then(DIVIDE)
        .otherwise(PYTHON)
        .cast(pl.Int8)
    )
    # Only the compiled division reads num and den: 0 elsewhere (so no value beyond 64 bits reaches the cast).
    divide = kind_of == DIVIDE
    fraction = variants.select(
        kind_of.alias("kind"),
        pl.when(divide).then(num).otherwise(0).cast(pl.Int64).alias("num"),
        pl.when(divide).then(den).otherwise(0).cast(pl.Int64).alias("den"),
    )
    kind = np.array(fraction["kind"].to_numpy(), dtype=np.int8)
    overrides = table.max_overrides
    if table.conditions is not None and overrides:
        conditions = table.conditions
        cond_min = np.stack([conditions[f"min_{j}"].fill_null(-1).to_numpy() for j in range(overrides)], axis=1)
        if table.has_windows:
            cond_start = np.stack([conditions[f"start_{j}"].fill_null(-1).to_numpy() for j in range(overrides)], 1)
            cond_end = np.stack([conditions[f"end_{j}"].fill_null(-1).to_numpy() for j in range(overrides)], 1)
        else:
            cond_start = cond_end = np.zeros((len(conditions), 0), dtype=np.int64)
    else:  # no overrides: a row of no entries per distinct sheet
        sheets = int(table.sheet_rows.max() or 0) + 1 if table.sheet_rows.len() else 1
        cond_min = np.zeros((sheets, 0), dtype=np.int64)
        cond_start = cond_end = np.zeros((sheets, 0), dtype=np.int64)
    arrays = {
        "cond_count": (cond_min >= 0).sum(axis=1).astype(np.int64),  # a sheet's entries are its first ones
        "rates": rates,
        "base_kind": kind,
        "num": np.array(fraction["num"].to_numpy(), dtype=np.int64),
        "den": np.array(fraction["den"].to_numpy(), dtype=np.int64),
        "cond_min": np.ascontiguousarray(cond_min, dtype=np.int64),
        "cond_start": np.ascontiguousarray(cond_start, dtype=np.int64),
        "cond_end": np.ascontiguousarray(cond_end, dtype=np.int64),
        "dynamic": variants["dynamic"].to_numpy().astype(np.bool_),
        # Read-only whichever way Polars lends them (a view of one chunk is read-only, a table extended by a
        # sweep holds several chunks and gets a writable copy): a second layout would compile a second version.
        "sheet_row": _frozen(table.sheet_rows.cast(pl.Int64).to_numpy()),
        "variant_base": _frozen(table.variant_base.cast(pl.Int64).to_numpy()),
        "discounts": bool((kind != SAME).any()),
    }
    _tables[table] = arrays
    return arrays


def minutes(table: Any) -> tuple[int, Any, Ints, Ints]:
    """The table's per-minute period index (``PriceTable.period_of``) as the pass reads it: the first minute,
    the periods before each minute (int32; empty: no minute table, the pass searches the bounds instead), the
    bounds padded with one past the last, and the bounds. Built on first use (a batch whose sheets are looked
    up per row never needs it: at a year of history it is half a million minutes)."""
    found = _minute_tables.get(table)
    if found is None:
        found = _minute_tables[table] = _minute_arrays(table)
    return found


def _minute_arrays(table: Any) -> tuple[int, Any, Ints, Ints]:
    bounds = _frozen(table.bounds.cast(pl.Int64).to_numpy())
    found = table._minute_table()
    if found is None:
        return 0, _frozen(np.zeros(0, dtype=np.int32)), _frozen(np.zeros(1, dtype=np.int64)), bounds
    first, start_period, padded = found
    return (
        int(first),
        _frozen(start_period.cast(pl.Int32).to_numpy()),
        _frozen(padded.cast(pl.Int64).to_numpy()),
        bounds,
    )


_LARGE = 4 << 20  # bytes: numpy asks for transparent huge pages from this size on


def pages(shape: int | tuple[int, ...], dtype: Any) -> Any:
    """An array of zeros for the pass to write, on private anonymous 4 KiB pages when it is large.

    numpy asks the kernel for transparent huge pages (``madvise``) for allocations of 4 MiB and more; the
    pass writes its output once, front to back. Faulting it in as huge pages cost 0.8-3.3 system CPU-seconds
    per 10**7 rows depending on the machine's memory state, 4 KiB pages a steady 1.3-1.5 s (measured under
    load): a steadier cost, not a lower one where huge pages come free. The mapping is private: Python's
    ``mmap`` maps shared memory unless told otherwise, whose pages the kernel keeps as shared memory files and
    faults in at about 1.5 times the system time of private ones (0.9 against 0.6 s per 10**7 rows). Either
    way the pages arrive zeroed, which the pass relies on (it writes no zeros)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    if size < _LARGE:
        return np.zeros(shape, dtype=dtype)
    memory = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    return np.frombuffer(memory, dtype=dtype).reshape(shape)


def _frozen(array: Any) -> Any:
    """Read-only: arrays Polars lends are, and numba wants the counts' tuple of one array type (and one
    compiled signature whichever way an array was made)."""
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


_NO_MINUTES = (
    0,
    _frozen(np.zeros(0, dtype=np.int32)),
    _frozen(np.zeros(1, dtype=np.int64)),
    _frozen(np.zeros(0, dtype=np.int64)),
)


@dataclass(frozen=True)
class Keys:
    """How the pass finds each row's sheet itself: the key columns' codes (up to three, model first; numpy
    arrays, or ``kernels.Nullable`` read in place) and their radixes (a null reads as radix − 1), ``combo_of``
    (per combined code, its combo), and per cell (combo × ``periods`` + period) its sheet and source."""

    codes: list[Any]
    radixes: list[int]
    combo_of: Ints
    periods: int
    cell_sheet: Any
    cell_source: Any
    minutes: tuple[int, Any, Ints, Ints]  # ``minutes(table)``


@dataclass
class Priced:
    """The pass's answer for one batch: per row its reason code (-1: priced), override mask, and the money."""

    code: npt.NDArray[np.int32]
    mask: npt.NDArray[np.uint8]
    money: dict[str, pl.Series]
    sheet: npt.NDArray[np.int32]
    source: npt.NDArray[np.int8]


def _column(values: Any, validity: pa.Buffer | None, nulls: int, n: int, scale: int, name: str) -> pl.Series:
    """A ``Decimal(38, scale)`` Series over ``values`` (2n uint64 limbs), without a copy."""
    array = pa.Array.from_buffers(pa.decimal128(38, scale), n, [validity, pa.py_buffer(values)], null_count=nulls)
    series = pl.from_arrow(array)
    assert isinstance(series, pl.Series)
    return series.alias(name)


def _key_arrays(keys: Keys | None) -> tuple[Any, ...]:
    """``_rows``' key arguments: always three code arrays (uint32) and three bitmaps, so that every call has
    the same compiled signature; with ``keys`` None, empty ones (the sheets are given per row)."""
    no_codes = _frozen(np.zeros(0, dtype=np.uint32))
    no_bits = _frozen(np.zeros(0, dtype=np.uint8))
    if keys is None:
        empty = _frozen(np.zeros(0, dtype=np.int64))
        return (
            (no_codes,) * 3,
            (no_bits,) * 3,
            _frozen(np.zeros(3, dtype=np.int64)),
            empty,
            empty,
            1,
            _frozen(np.zeros(0, dtype=np.int32)),
        )
    values, bits, offsets = [], [], []
    for column in keys.codes:
        nullable = hasattr(column, "bits")  # ``kernels.Nullable``: the codes with a validity bitmap
        values.append(_frozen(np.asarray(column.values if nullable else column, dtype=np.uint32)))
        bits.append(_frozen(np.asarray(column.bits, dtype=np.uint8)) if nullable else no_bits)
        offsets.append(column.offset if nullable else 0)
    pad = 3 - len(values)
    return (
        tuple(values + [no_codes] * pad),
        tuple(bits + [no_bits] * pad),
        _frozen(np.array(offsets + [0] * pad, dtype=np.int64)),
        _frozen(np.array(keys.radixes, dtype=np.int64)),
        _frozen(np.asarray(keys.combo_of, dtype=np.int64) * keys.periods),
        int(keys.periods),
        # One gather a row instead of two: sheet × 4 + source (-1 and 2 for none: -2, which decodes back).
        _frozen(np.asarray(keys.cell_sheet, dtype=np.int32) * 4 + np.asarray(keys.cell_source, dtype=np.int32)),
    )


def price(
    *,
    sheet: Any | None,
    source: Any | None,
    combo: Any | None,
    keys: Keys | None,
    micros: Any,
    counts: list[Any],
    given: Any | None,
    flags: list[Any | None],
    combo_reason: Any,
    arrays: dict[str, Any],
    pieces: list[tuple[int, int, str]],
    term_names: list[str],
    prompt_parts: list[int],
    completion_parts: list[int],
    scale: int,
    base_fallback: Callable[[Ints, list[int], list[int]], list[int | None]],
) -> Priced:
    """Run the pass over one batch (not empty). Each row's sheet: ``sheet``, ``source`` and ``combo`` per row,
    or found in the pass from ``keys`` (then those three are None). ``counts``: numpy int64 arrays in
    ``COUNT_COLUMNS`` order (length 1: the same value on every row); ``pieces``: (term index in ``term_names`` or
    -1, count index or -1/-2, rate name); ``term_names``: the breakdown columns (empty: the total only). Money
    columns: ``cost_<term>`` for each of ``term_names``, then ``cost_total``, ``cost_base``, ``saving``.
    ``base_fallback(rows, totals, variants)``: the bases of the rows the pass leaves to Python integers (None:
    no base)."""
    n = len(micros)
    chunks = max(1, min(numba.get_num_threads(), n // 65536 or 1)) if numba is not None else 1
    pieces = sorted(pieces, key=lambda piece: piece[0])  # a term's pieces together, terms in order
    written = sorted({t for t, _, _ in pieces if t >= 0})
    row_of = {t: r for r, t in enumerate(written)}
    term_keys = list(dict.fromkeys(t for t, _, _ in pieces))
    group_start = [0]
    for key in term_keys:
        group_start.append(group_start[-1] + sum(1 for t, _, _ in pieces if t == key))
    out = pages((len(written) + 1, 2 * n), np.uint64)
    code = pages(n, np.int32)
    mask = pages(n, np.uint8)
    rates = arrays["rates"]
    width = len(arrays["base_kind"])
    # Per variant its pieces' rates side by side, (high, low) limbs: a row reads one or two cache lines of
    # rates rather than a line per piece and limb (with thousands of variants, most of them not in the cache).
    rate_limbs = np.zeros((width, len(pieces), 2), dtype=np.uint64)
    for p, (_, _, rate) in enumerate(pieces):
        rate_limbs[:, p, 0], rate_limbs[:, p, 1] = rates[rate]
    false = np.zeros(1, dtype=np.bool_)
    # Where the table has discounted variants, the pass writes each total into the base too, in the same
    # pass (its pages are faulted in either way); a batch none of whose rows is discounted then drops it.
    # ``saving`` and ``aside`` are written on discounted rows only (``aside``: -1 no base, v + 1 the base is
    # left to Python integers, with v the variant): unwritten, their pages are never faulted in.
    discounts = bool(arrays["discounts"])
    base = pages(2 * n, np.uint64) if discounts else np.zeros(0, dtype=np.uint64)
    saving = pages(2 * n, np.uint64) if discounts else np.zeros(0, dtype=np.uint64)
    aside = pages(n, np.int32) if discounts else np.zeros(0, dtype=np.int32)
    sheet_out = pages(n, np.int32)
    source_out = pages(n, np.int8)
    first, start, padded, bounds = keys.minutes if keys is not None else _NO_MINUTES
    key_codes, key_bits, key_from, radix, cell_of, periods, cells = _key_arrays(keys)
    given_rows = keys is None
    tally = _rows(
        _frozen(np.asarray(sheet if given_rows else (), dtype=np.int32)),
        _frozen(np.asarray(source if given_rows else (), dtype=np.int8)),
        _frozen(np.asarray(combo if given_rows else (), dtype=np.int64)),
        _frozen(micros),
        key_codes,
        key_bits,
        key_from,
        radix,
        cell_of,
        periods,
        cells,
        first,
        start,
        padded,
        bounds,
        tuple(_frozen(c) for c in counts),
        np.array([1 if len(c) == n else 0 for c in counts], dtype=np.int64),
        _frozen(given if given is not None else np.full(1, -1, dtype=np.int64)),
        1 if given is not None else 0,
        tuple(_frozen(f if f is not None else false) for f in flags),
        np.array([1 if f is not None else 0 for f in flags], dtype=np.int64),
        _frozen(combo_reason),
        arrays["sheet_row"],
        arrays["variant_base"],
        arrays["cond_count"],
        arrays["cond_min"],
        arrays["cond_start"],
        arrays["cond_end"],
        arrays["dynamic"],
        np.array(group_start, dtype=np.int64),
        np.array([row_of.get(t, -1) for t in term_keys], dtype=np.int64),
        np.array([c for _, c, _ in pieces], dtype=np.int64),
        rate_limbs,
        arrays["base_kind"],
        arrays["num"],
        arrays["den"],
        len(written),
        np.array(prompt_parts, dtype=np.int64),
        np.array(completion_parts, dtype=np.int64),
        chunks,
        code,
        mask,
        sheet_out,
        source_out,
        out,
        base,
        saving,
        aside,
    )
    priced, discounted, no_bases, left_rows = (int(x) for x in tally.sum(axis=0))
    ok = code < 0
    validity = pa.py_buffer(np.packbits(ok, bitorder="little")) if priced < n else None
    money: dict[str, pl.Series] = {}
    zeros: Any = None
    for index, term in enumerate(term_names):
        if index in row_of:
            values = out[row_of[index]]
        else:
            if zeros is None:  # one buffer of zeros for every column no row bills: its pages are never written
                zeros = pages(2 * n, np.uint64)
            values = zeros
        money[term] = _column(values, validity, n - priced, n, scale, term)
    total = out[len(written)]
    money["cost_total"] = _column(total, validity, n - priced, n, scale, "cost_total")
    if not discounted:
        if zeros is None:
            zeros = saving if discounts else pages(2 * n, np.uint64)  # (an unwritten ``saving`` is all zeros)
        money["cost_base"] = _column(total, validity, n - priced, n, scale, "cost_base")
        money["saving"] = _column(zeros, validity, n - priced, n, scale, "saving")
        return Priced(code, mask, money, sheet_out, source_out)
    if left_rows:
        left = np.flatnonzero(aside > 0)
        totals = [_signed(int(total[2 * i + 1]), int(total[2 * i])) for i in left]
        found = base_fallback(left, totals, (aside[left] - 1).tolist())
        for i, t, b in zip(left.tolist(), totals, found, strict=True):
            if b is None:
                aside[i] = -1
                no_bases += 1
                continue
            aside[i] = 0
            for target, value in ((base, b), (saving, b - t)):
                target[2 * i] = value & _U64
                target[2 * i + 1] = (value >> 64) & _U64
    base_nulls = n - priced
    base_validity = validity
    if no_bases:
        present = ok & (aside >= 0)
        base_nulls = n - int(present.sum())
        base_validity = pa.py_buffer(np.packbits(present, bitorder="little"))
    money["cost_base"] = _column(base, base_validity, base_nulls, n, scale, "cost_base")
    money["saving"] = _column(saving, base_validity, base_nulls, n, scale, "saving")
    return Priced(code, mask, money, sheet_out, source_out)
