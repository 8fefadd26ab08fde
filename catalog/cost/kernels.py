"""Compiled row loops for totals by linearity, when numba is installed (``pip install '.[fast]'``).

Totals by linearity need, per row, only the key of its bucket (price cell, override mask, group) and then
integer sums per bucket. With numpy each of those steps is its own pass over the rows, and a float one for
the sums (``np.bincount`` weights). Here they are two passes in all: ``cells`` turns the categorical codes and
the timestamps into each row's price cell, and ``accumulate`` adds every count (and the remainders the
undiscounted base needs) into the bucket's int64 accumulators, the rows split between the threads, each with
its own accumulators (added up at the end, so the result does not depend on the split).

Everything is integer arithmetic: int64 sums are exact when the caller has checked that no sum can reach
2**63 (rows × the largest count). Without numba (``AVAILABLE`` false) the caller takes its numpy path, which
gives the same integers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int64]
F = TypeVar("F", bound=Callable[..., Any])

numba: Any
try:  # an optional extra: the numpy path stays the reference
    import numba

    AVAILABLE = os.environ.get("CATALOG_NO_NUMBA", "") == ""  # set: the numpy path, to compare or to debug
except ImportError:  # pragma: no cover - exercised where numba is not installed
    numba = None
    AVAILABLE = False

_MINUTE = 60_000_000
# Accumulator bytes per thread above which ``accumulate`` uses fewer threads (each has its own copy).
_PER_THREAD_BYTES = 64 << 20


def _jit(**options: Any) -> Callable[[F], F]:
    def wrap(function: F) -> F:
        if numba is None:
            return function
        return numba.njit(cache=True, nogil=True, **options)(function)  # type: ignore[no-any-return]

    return wrap


@_jit()
def _seen(c0: Any, c1: Any, c2: Any, r1: int, r2: int, space: int) -> Ints:  # pragma: no cover - compiled
    """Per combined code (model, provider, endpoint), a row holding it (-1: none)."""
    row = np.full(space, -1, dtype=np.int64)
    for i in range(len(c0)):
        code = np.int64(c0[i])
        if r1:
            code = code * r1 + c1[i]
        if r2:
            code = code * r2 + c2[i]
        if row[code] < 0:
            row[code] = i
    return row


@_jit()
def _cells(
    c0: Any,
    c1: Any,
    c2: Any,
    r1: int,
    r2: int,
    lookup: Ints,
    periods: int,
    micros: Ints,
    bounds: Ints,
    first_minute: int,
    start_period: Any,
    padded: Ints,
    n_cells: int,
    out: Any,
) -> Ints:  # pragma: no cover - compiled
    """Each row's cell (combo × period) into ``out``, and the rows per cell."""
    n = len(micros)
    per_cell = np.zeros(n_cells, dtype=np.int64)
    minutes = len(start_period)
    for i in range(n):
        code = np.int64(c0[i])
        if r1:
            code = code * r1 + c1[i]
        if r2:
            code = code * r2 + c2[i]
        t = micros[i]
        if minutes:
            m = t // _MINUTE - first_minute
            m = 0 if m < 0 else (minutes - 1 if m >= minutes else m)
            start = np.int64(start_period[m])
            period = start + 1 if t >= padded[start] else start
        else:
            period = np.searchsorted(bounds, t, side="right")
        cell = lookup[code] * periods + period
        out[i] = cell
        per_cell[cell] += 1
    return per_cell


@_jit(parallel=True)
def _totals(  # noqa: C901 - one pass, written out per column for speed
    c0: Any,
    c1: Any,
    c2: Any,
    r1: int,
    r2: int,
    lookup: Ints,
    periods: int,
    micros: Ints,
    bounds: Ints,
    first_minute: int,
    start_period: Any,
    padded: Ints,
    slot_of_cell: Ints,
    cell_cond: Ints,
    cond_min: Ints,
    cond_start: Ints,
    cond_end: Ints,
    group: Ints,
    slots: int,
    k0: Ints,
    k1: Ints,
    k2: Ints,
    k3: Ints,
    k4: Ints,
    k5: Ints,
    k6: Ints,
    k7: Ints,
    k8: Ints,
    k9: Ints,
    k10: Ints,
    k11: Ints,
    disc_num: Ints,
    disc_den: Ints,
    coefficient: Ints,
    constant: Ints,
    chunks: int,
    space: int,
) -> tuple[Ints, Ints]:  # pragma: no cover - compiled
    """Per bucket ``group × slots + slot`` (a slot: a cell and one of its override masks): [rows, Σ each
    given count column (``COUNT_COLUMNS`` order; an empty array: not given), Σ r, Σ rounded r]; and per
    thread the least ``prompt − its parts`` and ``completion − its parts`` seen (negative: the caller sorts
    such rows out on its numpy path)."""
    n = len(micros)
    least = np.zeros((chunks, 2), dtype=np.int64)
    step = (n + chunks - 1) // chunks
    minutes = len(start_period)
    overrides = cond_min.shape[1]
    windows = cond_start.shape[1] > 0
    grouped = len(group) > 0
    g0 = len(k0) > 0
    g1 = len(k1) > 0
    g2 = len(k2) > 0
    g3 = len(k3) > 0
    g4 = len(k4) > 0
    g5 = len(k5) > 0
    g6 = len(k6) > 0
    g7 = len(k7) > 0
    g8 = len(k8) > 0
    g9 = len(k9) > 0
    g10 = len(k10) > 0
    g11 = len(k11) > 0
    width = 1
    p0 = width
    width += 1 if g0 else 0
    p1 = width
    width += 1 if g1 else 0
    p2 = width
    width += 1 if g2 else 0
    p3 = width
    width += 1 if g3 else 0
    p4 = width
    width += 1 if g4 else 0
    p5 = width
    width += 1 if g5 else 0
    p6 = width
    width += 1 if g6 else 0
    p7 = width
    width += 1 if g7 else 0
    p8 = width
    width += 1 if g8 else 0
    p9 = width
    width += 1 if g9 else 0
    p10 = width
    width += 1 if g10 else 0
    p11 = width
    width += 1 if g11 else 0
    width += 2  # Σ r, Σ rounded r
    acc = np.zeros((chunks, space, width), dtype=np.int64)
    for part in numba.prange(chunks):
        mine = acc[part]
        low_prompt = 0
        low_completion = 0
        for i in range(part * step, min(n, (part + 1) * step)):
            code = np.int64(c0[i])
            if r1:
                code = code * r1 + c1[i]
            if r2:
                code = code * r2 + c2[i]
            t = micros[i]
            if minutes:
                m = t // _MINUTE - first_minute
                m = 0 if m < 0 else (minutes - 1 if m >= minutes else m)
                start = np.int64(start_period[m])
                period = start + 1 if t >= padded[start] else start
            else:
                period = np.searchsorted(bounds, t, side="right")
            cell = lookup[code] * periods + period
            s = slot_of_cell[cell]
            x0 = k0[i] if g0 else 0
            x1 = k1[i] if g1 else 0
            x2 = k2[i] if g2 else 0
            x3 = k3[i] if g3 else 0
            x4 = k4[i] if g4 else 0
            x5 = k5[i] if g5 else 0
            x6 = k6[i] if g6 else 0
            x7 = k7[i] if g7 else 0
            x8 = k8[i] if g8 else 0
            x9 = k9[i] if g9 else 1
            x10 = k10[i] if g10 else 0
            x11 = k11[i] if g11 else 0
            cond = cell_cond[cell]
            if cond >= 0:  # the cell's sheet has overrides: which apply (whole prompt, UTC minute of the day)
                mask = 0
                minute = (t // _MINUTE) % 1440
                for j in range(overrides):
                    threshold = cond_min[cond, j]
                    if threshold < 0 or x0 < threshold:
                        continue  # no entry j, or the prompt is below it
                    if windows:
                        since = cond_start[cond, j]
                        until = cond_end[cond, j]
                        if since >= 0 and until >= 0:
                            if since <= until:
                                if not (minute >= since and minute < until):
                                    continue
                            elif not (minute >= since or minute < until):
                                continue  # the window wraps past midnight
                    mask |= 1 << j
                s += mask
            b = group[i] * slots + s if grouped else s
            mine[b, 0] += 1
            if g0:
                mine[b, p0] += x0
            if g1:
                mine[b, p1] += x1
            if g2:
                mine[b, p2] += x2
            if g3:
                mine[b, p3] += x3
            if g4:
                mine[b, p4] += x4
            if g5:
                mine[b, p5] += x5
            if g6:
                mine[b, p6] += x6
            if g7:
                mine[b, p7] += x7
            if g8:
                mine[b, p8] += x8
            if g9:
                mine[b, p9] += x9
            if g10:
                mine[b, p10] += x10
            if g11:
                mine[b, p11] += x11
            rest = x0 - x2 - x3 - x4 - x5
            if rest < low_prompt:
                low_prompt = rest
            rest = x1 - x6 - x7 - x8
            if rest < low_completion:
                low_completion = rest
            num = disc_num[s]
            if num > 0:
                r = constant[s]
                if g0:
                    r = (r + (x0 % num) * coefficient[s, 0]) % num
                if g1:
                    r = (r + (x1 % num) * coefficient[s, 1]) % num
                if g2:
                    r = (r + (x2 % num) * coefficient[s, 2]) % num
                if g3:
                    r = (r + (x3 % num) * coefficient[s, 3]) % num
                if g4:
                    r = (r + (x4 % num) * coefficient[s, 4]) % num
                if g5:
                    r = (r + (x5 % num) * coefficient[s, 5]) % num
                if g6:
                    r = (r + (x6 % num) * coefficient[s, 6]) % num
                if g7:
                    r = (r + (x7 % num) * coefficient[s, 7]) % num
                if g8:
                    r = (r + (x8 % num) * coefficient[s, 8]) % num
                if g9:
                    r = (r + (x9 % num) * coefficient[s, 9]) % num
                if g10:
                    r = (r + (x10 % num) * coefficient[s, 10]) % num
                if g11:
                    r = (r + (x11 % num) * coefficient[s, 11]) % num
                mine[b, width - 2] += r
                mine[b, width - 1] += (2 * r * disc_den[s] + num) // (2 * num)
        least[part, 0] = low_prompt
        least[part, 1] = low_completion
    total = acc[0].copy()
    for part in range(1, chunks):
        total += acc[part]
    low = np.zeros(2, dtype=np.int64)
    for part in range(chunks):
        low[0] = min(low[0], least[part, 0])
        low[1] = min(low[1], least[part, 1])
    return total, low


def seen(codes: list[Any], radixes: list[int], space: int) -> Ints:
    c0, c1, c2, r1, r2 = _codes(codes, radixes)
    return _seen(c0, c1, c2, r1, r2, space)


def cells(
    codes: list[Any],
    radixes: list[int],
    lookup: Ints,
    periods: int,
    micros: Ints,
    bounds: Ints,
    minute_table: tuple[int, Any, Ints] | None,
    n_cells: int,
) -> tuple[Any, Ints]:
    c0, c1, c2, r1, r2 = _codes(codes, radixes)
    if minute_table is None:
        first, start, padded = 0, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    else:
        first, start, padded = minute_table
    # int32 cells halve the pass's writes wherever they can number every cell.
    out = np.empty(len(micros), dtype=np.int32 if n_cells < 2**31 else np.int64)
    per_cell = _cells(c0, c1, c2, r1, r2, lookup, periods, micros, bounds, first, start, padded, n_cells, out)
    return out, per_cell


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
) -> tuple[Ints, Ints]:
    """``_totals`` with its arguments laid out: ``columns`` in ``COUNT_COLUMNS`` order (None: not given)."""
    c0, c1, c2, r1, r2 = _codes(codes, radixes)
    if minute_table is None:
        first, start, padded = 0, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int64)
    else:
        first, start, padded = minute_table
    space = slots * group_size
    none = np.zeros(0, dtype=np.int64)
    arrays = [none if c is None else c for c in columns]
    threads = numba.get_num_threads() if numba is not None else 1
    width = 3 + sum(c is not None for c in columns)
    chunks = max(1, min(threads, _PER_THREAD_BYTES // max(1, space * width * 8), len(micros) // 100_000))
    cond_min, cond_start, cond_end = conditions
    kernel: Any = _totals  # its twelve count columns come as one list
    return kernel(  # type: ignore[no-any-return]
        c0,
        c1,
        c2,
        r1,
        r2,
        lookup,
        periods,
        micros,
        bounds,
        first,
        start,
        padded,
        slot_of_cell,
        cell_cond,
        cond_min,
        cond_start,
        cond_end,
        none if group is None else group,
        slots,
        *arrays,
        disc_num,
        disc_den,
        coefficient,
        constant,
        chunks,
        space,
    )


def _codes(codes: list[Any], radixes: list[int]) -> tuple[Any, Any, Any, int, int]:
    """Up to three code arrays and the radixes of the second and third (0: absent)."""
    empty = np.zeros(0, dtype=codes[0].dtype)
    c1 = codes[1] if len(codes) > 1 else empty
    c2 = codes[2] if len(codes) > 2 else empty
    return codes[0], c1, c2, radixes[1] if len(codes) > 1 else 0, radixes[2] if len(codes) > 2 else 0
