"""Compiled row loops for totals by linearity, when numba is installed (``pip install '.[fast]'``).

Totals by linearity need, per row, only the key of its bucket (price cell, override mask, group) and then
integer sums per bucket. With numpy each of those steps is its own pass over the rows, and a float one for
the sums (``np.bincount`` weights). Here it is one pass, ``totals``, which turns the categorical codes and
the timestamp into each row's cell and slot and adds every count (and the remainders the undiscounted base
needs) into the slot's int64 accumulators; the same pass notes what decides whether those sums may be
used (each count column's largest value, any negative count, parts beyond their whole), and the caller
checks that afterwards. The threads claim the rows a stretch at a time (``claim``), each into its own
accumulators (added up at the end, so the result does not depend on which thread took which rows).
``extrema`` is the checks alone, for the paths that need them first.

Everything is integer arithmetic: int64 sums are exact when no sum can reach 2**63 (rows × the largest
count), which the caller checks from the pass's own maxima. Without numba (``AVAILABLE`` false) the caller
takes its numpy path, which gives the same integers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
F = TypeVar("F", bound=Callable[..., Any])

numba: Any
# numba's OpenMP threads spin after each parallel pass before they sleep: between the per-row pass's batches
# that burnt ~0.3 CPU-seconds per 10**7 rows (13 %), taken from the Polars work on the other core. Sleeping
# at once costs a wake-up (microseconds) per pass. Read when the OpenMP runtime loads (the first parallel
# pass); a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
try:  # an optional extra: the numpy path stays the reference
    import numba

    AVAILABLE = os.environ.get("CATALOG_NO_NUMBA", "") == ""  # set: the numpy path, to compare or to debug
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None
    AVAILABLE = False

_MINUTE = 60_000_000
# Accumulator bytes per thread above which ``accumulate`` uses fewer threads (each has its own copy).
_PER_THREAD_BYTES = 64 << 20
# Rows per block of the totals pass: its per-row buffers (three int64 arrays) stay in the L1 cache.
_BLOCK = 2048
# Rows a thread of a pass claims at a time (a multiple of ``_BLOCK``): small enough that a thread slowed by
# another process on its core leaves little for the other to wait on, large enough that claims are rare.
_GRAB = 32 * _BLOCK


def jit(**options: Any) -> Callable[[F], F]:
    """``numba.njit`` (cached on disk, GIL released) with ``options``; the plain function without numba."""

    def wrap(function: F) -> F:
        if numba is None:
            return function
        return numba.njit(cache=True, nogil=True, **options)(function)  # type: ignore[no-any-return]

    return wrap


claim: Any  # claim(counter, step): atomically add ``step`` to ``counter[0]``, returning the value before
if numba is not None:
    from numba.core import types as _types

    def _claim_typing(typingctx: Any, counter: Any, step: Any) -> Any:
        """An atomic fetch-and-add (LLVM ``atomicrmw add``) on an int64 array's first element."""
        signature = _types.int64(counter, step)

        def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
            array = context.make_array(sig.args[0])(context, builder, args[0])
            amount = context.cast(builder, args[1], sig.args[1], _types.int64)
            return builder.atomic_rmw("add", array.data, amount, "monotonic")

        return signature, codegen

    claim = numba.extending.intrinsic(_claim_typing)
else:

    def claim(counter: Ints, step: int) -> int:
        """The plain read and add where numba is absent (no threads then)."""
        before = int(counter[0])
        counter[0] += step
        return before


def _inline(function: F) -> F:
    """A compiled helper inlined into its callers (a plain call between compiled functions is not, and cost
    ten times the lookup itself in the totals pass)."""
    if numba is None:
        return function
    return numba.njit(inline="always", nogil=True)(function)  # type: ignore[no-any-return]


@_inline
def _code(  # pragma: no cover - compiled
    c0: Any, c1: Any, c2: Any, r1: int, r2: int, v0: Any, v1: Any, v2: Any, valid_from: Ints, nulls: Ints, i: int
) -> int:
    """Row ``i``'s combined code (model, provider, endpoint) in mixed radix; a null (validity bit 0, where the
    column has a bitmap) reads as its column's null code."""
    code = np.int64(c0[i])
    if len(v0):
        at = i + valid_from[0]
        code = code if (v0[at >> 3] >> (at & 7)) & 1 else nulls[0]
    if r1:
        x = np.int64(c1[i])
        if len(v1):
            at = i + valid_from[1]
            x = x if (v1[at >> 3] >> (at & 7)) & 1 else nulls[1]
        code = code * r1 + x
    if r2:
        x = np.int64(c2[i])
        if len(v2):
            at = i + valid_from[2]
            x = x if (v2[at >> 3] >> (at & 7)) & 1 else nulls[2]
        code = code * r2 + x
    return code  # type: ignore[return-value]


@jit(parallel=True)
def _seen(  # pragma: no cover - compiled
    c0: Any, c1: Any, c2: Any, r1: int, r2: int, valid: Any, valid_from: Ints, nulls: Ints, space: int, chunks: int
) -> Ints:
    """Per combined code (model, provider, endpoint), its first row (-1: none). The threads claim stretches
    of rows in turn (``_GRAB``), each noting in its own table the first row it saw of each code (its stretches
    come in order); the least of the tables' rows is the first row."""
    n = len(c0)
    claimed = np.zeros(1, dtype=np.int64)
    found = np.full((chunks, space), -1, dtype=np.int64)
    v0, v1, v2 = valid
    for part in numba.prange(chunks):
        row = found[part]
        while True:
            first = claim(claimed, _GRAB)
            if first >= n:
                break
            for i in range(first, min(n, first + _GRAB)):
                code = _code(c0, c1, c2, r1, r2, v0, v1, v2, valid_from, nulls, i)
                if row[code] < 0:
                    row[code] = i
    out = found[0].copy()
    for part in range(1, chunks):
        for code in range(space):
            at = found[part, code]
            if at >= 0 and (out[code] < 0 or at < out[code]):
                out[code] = at
    return out  # type: ignore[no-any-return]


@jit(parallel=True)
def _totals(  # noqa: C901 - one pass, written out for speed
    c0: Any,
    c1: Any,
    c2: Any,
    r1: int,
    r2: int,
    valid: Any,
    valid_from: Ints,
    nulls: Ints,
    cell_base: Any,
    micros: Ints,
    bounds: Ints,
    first_minute: int,
    start_period: Any,
    padded: Ints,
    slot_code: Any,
    cell_cond: Any,
    cond_min: Ints,
    cond_start: Ints,
    cond_end: Ints,
    group: Ints,
    slots: int,
    columns: Any,
    prompt_at: int,
    prompt_parts: Ints,
    completion_at: int,
    completion_parts: Ints,
    disc_num: Ints,
    disc_den: Ints,
    coefficient: Ints,
    constant: Ints,
    residue_cap: int,
    chunks: int,
    space: int,
) -> tuple[Ints, Ints]:  # pragma: no cover - compiled
    """Per bucket ``group × slots + slot`` (a slot: a cell and one of its override masks): [rows, Σ each
    given count column (``columns``, a tuple in ``COUNT_COLUMNS`` order), Σ r, Σ rounded r]; and what the
    caller checks before it trusts those sums (``checks``): per column its largest value, then the OR of
    every value (negative: some count is), the least ``prompt − its parts`` and ``completion − its parts``
    (0 when none is below; ``prompt_parts`` and ``completion_parts``: the positions of the parts in
    ``columns``, ``prompt_at`` and ``completion_at`` those of the wholes, -1 when not given).

    ``slot_code``: per cell, its first slot × 4, + 1 when its sheet has overrides (``cell_cond``: which
    conditions), + 2 when it is discounted. ``r`` (the undiscounted base's remainder, ``t mod num``) is one
    modulo of ``constant + Σ coefficient × count`` when every count of the row is below ``residue_cap``
    (which the caller chose so that sum fits 63 bits), else a modulo per column.

    The rows go in blocks of ``_BLOCK``: first each row's bucket (the chain of lookups, step by step in
    short loops, with the rare rows of override and discounted cells after them), then the counts added
    row by row (a row's accumulators are adjacent, and the loop over the columns, whose number is fixed
    per compiled version, unrolls), then the checks column by column in loops the compiler vectorises.
    Written as one loop per row, the lookups and the scattered adds wait on each other and the pass took
    half as long again; the checks as multiply-adds per row took a third of the pass.

    ``start_period`` (per minute since ``first_minute``, how many bounds come before it) may be any integer
    type: as bytes (fewer than 256 periods) the table stays in the L1 cache. The minute is found by an
    unsigned division (a signed floor division is twice the instructions)."""
    n = len(micros)
    k = len(columns)
    width = k + 3
    claimed = np.zeros(1, dtype=np.int64)
    overrides = cond_min.shape[1]
    windows = cond_start.shape[1] > 0
    grouped = len(group) > 0
    acc = np.zeros((chunks, space * width), dtype=np.int64)
    seen = np.zeros((chunks, k + 3), dtype=np.int64)
    minutes = len(start_period)
    origin = first_minute * _MINUTE
    v0, v1, v2 = valid
    for part in numba.prange(chunks):
        mine = acc[part]
        ored = 0
        low_prompt = 0
        low_completion = 0
        bucket = np.empty(_BLOCK, dtype=np.int64)
        cells = np.empty(_BLOCK, dtype=np.int64)
        rest = np.empty(_BLOCK, dtype=np.int64)
        rare = np.empty(_BLOCK, dtype=np.int64)
        top = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
        # Rows claimed a stretch at a time, whichever thread is free (a fixed half each waited on the
        # slower thread: one sharing its core with another process doubled the pass).
        while True:
            first = claim(claimed, _GRAB)
            if first >= n:
                break
            end = min(n, first + _GRAB)
            for lo in range(first, end, _BLOCK):
                hi = min(end, lo + _BLOCK)
                size = hi - lo
                for i in range(size):
                    cells[i] = cell_base[_code(c0, c1, c2, r1, r2, v0, v1, v2, valid_from, nulls, lo + i)]
                if minutes:
                    for i in range(size):
                        t = micros[lo + i]
                        d = t - origin
                        m = np.int64(np.uint64(d) // np.uint64(_MINUTE)) if d >= 0 else 0
                        m = minutes - 1 if m >= minutes else m
                        start = np.int64(start_period[m])
                        cells[i] += start + (1 if t >= padded[start] else 0)
                else:
                    for i in range(size):
                        cells[i] += np.searchsorted(bounds, micros[lo + i], side="right")
                # Each row's bucket, and the rows of override or discounted cells listed (without a branch) for
                # the loop after: a second look at every row of the block cost a sixth of the pass.
                odd = 0
                for i in range(size):
                    code = np.int64(slot_code[cells[i]])
                    s = code >> 2
                    bucket[i] = (group[lo + i] * slots + s if grouped else s) * width
                    rare[odd] = i
                    odd += 1 if code & 3 else 0
                for f in range(odd):
                    i = rare[f]
                    cell = cells[i]
                    code = np.int64(slot_code[cell])
                    row = lo + i
                    s = code >> 2
                    t = micros[row]
                    if code & 1:
                        cond = cell_cond[cell]
                        prompt = columns[prompt_at][row] if prompt_at >= 0 else 0
                        mask = 0
                        minute = (t // _MINUTE) % 1440
                        for j in range(overrides):
                            threshold = cond_min[cond, j]
                            if threshold < 0 or prompt < threshold:
                                continue
                            if windows:
                                since = cond_start[cond, j]
                                until = cond_end[cond, j]
                                if since >= 0 and until >= 0:
                                    if since <= until:
                                        if not (minute >= since and minute < until):
                                            continue
                                    elif not (minute >= since or minute < until):
                                        continue
                            mask |= 1 << j
                        s += mask
                    b = (group[row] * slots + s if grouped else s) * width
                    bucket[i] = b
                    if code & 2:
                        num = disc_num[s]
                        if num > 0:
                            r = constant[s]
                            small = True
                            for j in range(k):
                                small = small and columns[j][row] < residue_cap
                            if small:
                                for j in range(k):
                                    r += columns[j][row] * coefficient[s, j]
                                r %= num
                            else:
                                for j in range(k):
                                    r = (r + (columns[j][row] % num) * coefficient[s, j]) % num
                            mine[b + k + 1] += r
                            mine[b + k + 2] += (2 * r * disc_den[s] + num) // (2 * num)
                # The adds row by row: a row's accumulators share a cache line, and the loop over the columns
                # (a constant count per compiled version) is unrolled.
                for i in range(size):
                    b = bucket[i]
                    mine[b] += 1
                    for j in range(k):
                        mine[b + 1 + j] += columns[j][lo + i]
                for j in range(k):
                    column = columns[j]
                    t = top[j]
                    o = 0
                    for i in range(size):
                        x = column[lo + i]
                        t = x if x > t else t
                        o |= x
                    top[j] = t
                    ored |= o
                if prompt_at >= 0 and len(prompt_parts):
                    column = columns[prompt_at]
                    for i in range(size):
                        rest[i] = column[lo + i]
                    for p in prompt_parts:
                        column = columns[p]
                        for i in range(size):
                            rest[i] -= column[lo + i]
                    for i in range(size):
                        low_prompt = min(low_prompt, rest[i])
                if completion_at >= 0 and len(completion_parts):
                    column = columns[completion_at]
                    for i in range(size):
                        rest[i] = column[lo + i]
                    for p in completion_parts:
                        column = columns[p]
                        for i in range(size):
                            rest[i] -= column[lo + i]
                    for i in range(size):
                        low_completion = min(low_completion, rest[i])
        for j in range(k):
            seen[part, j] = top[j]
        seen[part, k] = ored
        seen[part, k + 1] = low_prompt
        seen[part, k + 2] = low_completion
    total = acc[0].copy()
    checks = seen[0].copy()
    for part in range(1, chunks):
        total += acc[part]
        for j in range(k):
            checks[j] = max(checks[j], seen[part, j])
        checks[k] |= seen[part, k]
        checks[k + 1] = min(checks[k + 1], seen[part, k + 1])
        checks[k + 2] = min(checks[k + 2], seen[part, k + 2])
    return total.reshape((space, width)), checks


@jit(parallel=True)
def _extrema(columns: Any, prompt_sign: Ints, completion_sign: Ints, chunks: int) -> Ints:  # pragma: no cover
    """Per column its least and largest value, and the least ``prompt − its parts`` and ``completion − its
    parts`` of any row (0 when none is below): rows ``[min, max]`` per column, then ``[prompt, completion]``.
    One pass the compiler vectorises, instead of a reduction per column and two sums more per row in
    ``_totals``."""
    n = len(columns[0])
    k = len(columns)
    step = (n + chunks - 1) // chunks
    found = np.zeros((chunks, k + 1, 2), dtype=np.int64)
    for part in numba.prange(chunks):
        low_prompt = 0
        low_completion = 0
        lo = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
        hi = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
        for i in range(part * step, min(n, (part + 1) * step)):
            rest_prompt = 0
            rest_completion = 0
            for j in range(k):
                x = columns[j][i]
                lo[j] = min(lo[j], x)
                hi[j] = max(hi[j], x)
                rest_prompt += prompt_sign[j] * x
                rest_completion += completion_sign[j] * x
            low_prompt = min(low_prompt, rest_prompt)
            low_completion = min(low_completion, rest_completion)
        for j in range(k):
            found[part, j, 0] = lo[j]
            found[part, j, 1] = hi[j]
        found[part, k, 0] = low_prompt
        found[part, k, 1] = low_completion
    out = found[0].copy()
    for part in range(1, chunks):
        for j in range(k + 1):
            out[j, 0] = min(out[j, 0], found[part, j, 0])
            out[j, 1] = max(out[j, 1], found[part, j, 1]) if j < k else min(out[j, 1], found[part, j, 1])
    return out  # type: ignore[no-any-return]


def extrema(columns: dict[str, Ints]) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """``_extrema`` of the given count columns (by name, ``COUNT_COLUMNS``' names; non-empty): each one's
    (min, max), and the least prompt and completion rests (negative: parts beyond their whole)."""
    from catalog.cost.usage import COMPLETION_PARTS, PROMPT_PARTS

    names = list(columns)
    arrays = tuple(np.ascontiguousarray(columns[c], dtype=np.int64) for c in names)
    prompt_sign = np.array(
        [1 if c == "prompt_tokens" else (-1 if c in PROMPT_PARTS else 0) for c in names], dtype=np.int64
    )
    completion_sign = np.array(
        [1 if c == "completion_tokens" else (-1 if c in COMPLETION_PARTS else 0) for c in names], dtype=np.int64
    )
    threads = numba.get_num_threads() if numba is not None else 1
    chunks = max(1, min(threads, len(arrays[0]) // 100_000))
    out = _extrema(arrays, prompt_sign, completion_sign, chunks)
    spans = {c: (int(out[j, 0]), int(out[j, 1])) for j, c in enumerate(names)}
    return spans, (int(out[-1, 0]), int(out[-1, 1]))


@dataclass(frozen=True)
class Nullable:
    """A key column's categorical codes as Arrow holds them, read in place: ``values`` (anything where the
    row is null), the validity bitmap ``bits`` and the bit of the first row in it (``offset``). The passes
    read a null as the column's null code (its radix − 1), so no filled copy of the column is made."""

    values: Any
    bits: npt.NDArray[np.uint8]
    offset: int

    def filled(self, null_code: int) -> Ints:
        """The codes with the nulls replaced (for the numpy path)."""
        n = len(self.values)
        at = np.arange(self.offset, self.offset + n)
        valid = (self.bits[at >> 3] >> (at & 7)) & 1
        return np.where(valid.astype(bool), self.values, null_code).astype(np.int64)


def seen(codes: list[Any], radixes: list[int], space: int) -> Ints:
    """Per combined code, a row holding it (-1: none); ``codes``: arrays, or ``Nullable`` columns."""
    c0, c1, c2, r1, r2, valid, valid_from, nulls = _codes(codes, radixes)
    threads = numba.get_num_threads() if numba is not None else 1
    chunks = max(1, min(threads, _PER_THREAD_BYTES // max(1, space * 8), len(c0) // 100_000))
    return _seen(c0, c1, c2, r1, r2, valid, valid_from, nulls, space, chunks)


def cell_bases(lookup: Ints, periods: int, n_cells: int) -> Any:
    """Per combined code, its combo's first cell (combo × periods), int32 where the cells fit: the table
    is gathered once per row, and half the bytes keep it in cache."""
    base = np.maximum(lookup, 0) * periods
    return base.astype(np.int32) if n_cells < 2**31 else base


def totals(
    codes: list[Any],
    radixes: list[int],
    lookup: Ints,
    periods: int,
    micros: Ints,
    bounds: Ints,
    minute_table: tuple[int, Any, Ints] | None,
    slot_of_cell: Ints,
    cell_cond: Ints,
    conditions: tuple[Ints, Ints, Ints],
    group: Ints | None,
    slots: int,
    group_size: int,
    columns: list[Ints | None],
    disc_num: Ints,
    disc_den: Ints,
    coefficient: Ints,
    constant: Ints,
) -> tuple[Ints, Checks]:
    """``_totals`` with its arguments laid out: ``columns`` in ``COUNT_COLUMNS`` order (None: not given);
    ``coefficient`` per slot and ``COUNT_COLUMNS`` column (modulo the slot's ``disc_num``). Returns the sums
    and what the pass saw of the counts (``Checks``), which the caller checks before it uses the sums: the
    pass assumes counts that are not negative, parts within their whole and sums below 2**63, and where
    they are not its sums are meaningless (never an error)."""
    from catalog.cost.usage import COMPLETION_PARTS, COUNT_COLUMNS, PROMPT_PARTS

    c0, c1, c2, r1, r2, valid, valid_from, nulls = _codes(codes, radixes)
    first, start, padded = _minutes(minute_table)
    n_cells = len(slot_of_cell)
    space = slots * group_size
    given = [i for i, c in enumerate(columns) if c is not None]
    arrays = tuple(np.ascontiguousarray(columns[i], dtype=np.int64) for i in given)
    names = [COUNT_COLUMNS[i] for i in given]
    prompt_at = names.index("prompt_tokens") if "prompt_tokens" in names else -1
    coefficient = np.ascontiguousarray(coefficient[:, given]) if given else np.zeros((len(disc_num), 0), np.int64)
    # One modulo per discounted row when its counts are below ``cap``, so that constant + Σ coefficient ×
    # count cannot reach 2**63 (the usual case: coefficients below a discount's few-digit numerator, counts
    # far below 2**32); a row with a larger count takes a modulo per column.
    widest = int(coefficient.max(initial=0)) if coefficient.size else 0
    cap = (2**62 - int(constant.max(initial=0))) // (widest * max(1, len(given)) + 1)
    completion_at = names.index("completion_tokens") if "completion_tokens" in names else -1
    prompt_parts = np.array([j for j, c in enumerate(names) if c in PROMPT_PARTS], dtype=np.int64)
    completion_parts = np.array([j for j, c in enumerate(names) if c in COMPLETION_PARTS], dtype=np.int64)
    # The narrowest integers the per-cell codes fit: the table is gathered once per row, and the fewer its
    # bytes the more of it stays in the L1 cache.
    top_code = 4 * (slots + 1)
    code_dtype = np.int16 if top_code < 2**15 else (np.int32 if top_code < 2**31 else np.int64)
    # Per cell: its first slot × 4, + 1 when its sheet has overrides, + 2 when one of its slots (masks) has a
    # remainder to track. A discounted slot whose rates (and the defaults' share) are all multiples of the
    # discount's ``num`` has r = 0 on every row, so its rows need no look (the usual case: a discounted
    # sheet's rates are the list rates × num / den, whole units).
    cond_min, cond_start, cond_end = conditions
    masked = cell_cond >= 0
    remainder = (disc_num > 0) & (coefficient.any(axis=1) | (constant != 0))
    discounted = remainder[slot_of_cell]
    for m in range(1, cond_min.shape[1] and 1 << cond_min.shape[1]):
        discounted |= masked & remainder[np.minimum(slot_of_cell + m, slots - 1)]
    slot_code = (slot_of_cell * 4 + masked + 2 * discounted).astype(code_dtype)
    threads = numba.get_num_threads() if numba is not None else 1
    width = 3 + len(arrays)
    chunks = max(1, min(threads, _PER_THREAD_BYTES // max(1, space * width * 8), len(micros) // 100_000))
    if not arrays:  # a tuple of no arrays has no element type: a column of zeros stands for none given
        arrays = (np.zeros(len(micros), dtype=np.int64),)
        coefficient = np.zeros((len(disc_num), 1), dtype=np.int64)
    kernel: Any = _totals
    total, seen = kernel(
        c0,
        c1,
        c2,
        r1,
        r2,
        valid,
        valid_from,
        nulls,
        cell_bases(lookup, periods, n_cells),
        micros,
        bounds,
        first,
        start,
        padded,
        slot_code,
        cell_cond.astype(np.int32),
        cond_min,
        cond_start,
        cond_end,
        np.zeros(0, dtype=np.int64) if group is None else group,
        slots,
        arrays,
        prompt_at,
        prompt_parts,
        completion_at,
        completion_parts,
        disc_num,
        disc_den,
        coefficient,
        constant,
        min(cap, 2**62),
        chunks,
        space,
    )
    k = len(arrays)
    checks = Checks(
        largest={c: int(seen[j]) for j, c in enumerate(names)},
        negative=int(seen[k]) < 0,
        rests=(int(seen[k + 1]), int(seen[k + 2])),
    )
    if not given:  # drop the stand-in column again
        total = np.delete(total, 1, axis=1)
    return total, checks


@dataclass(frozen=True)
class Checks:
    """What the totals pass saw of the given count columns: each one's largest value (meaningful when none
    is negative), whether any count is negative, and the least prompt and completion rests (negative: parts
    beyond their whole)."""

    largest: dict[str, int]
    negative: bool
    rests: tuple[int, int]


def _minutes(minute_table: tuple[int, Any, Ints] | None) -> tuple[int, Any, Ints]:
    """The minute table with its periods as the narrowest unsigned integers that hold them (bytes below
    256 periods: a month of minutes is then 43 KB, mostly in the L1 cache, instead of 173 KB)."""
    if minute_table is None:
        return 0, np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    first, start, padded = minute_table
    top = int(start.max()) if len(start) else 0
    narrow = np.uint8 if top < 2**8 else (np.uint16 if top < 2**16 else np.uint32)
    return first, start.astype(narrow), padded


def _codes(codes: list[Any], radixes: list[int]) -> tuple[Any, Any, Any, int, int, Any, Ints, Ints]:
    """Up to three code arrays, the radixes of the second and third (0: absent), and per column its validity
    bitmap (empty: no nulls, or the codes are filled), the bit of its first row and its null code."""
    values = [c.values if isinstance(c, Nullable) else c for c in codes]
    empty = np.zeros(0, dtype=values[0].dtype)
    c1 = values[1] if len(values) > 1 else empty
    c2 = values[2] if len(values) > 2 else empty
    no_bits = np.zeros(0, dtype=np.uint8)
    valid = tuple(codes[j].bits if j < len(codes) and isinstance(codes[j], Nullable) else no_bits for j in range(3))
    valid_from = np.array(
        [codes[j].offset if j < len(codes) and isinstance(codes[j], Nullable) else 0 for j in range(3)],
        dtype=np.int64,
    )
    nulls = np.array([radixes[j] - 1 if j < len(radixes) else 0 for j in range(3)], dtype=np.int64)
    r1 = radixes[1] if len(values) > 1 else 0
    r2 = radixes[2] if len(values) > 2 else 0
    return values[0], c1, c2, r1, r2, valid, valid_from, nulls
