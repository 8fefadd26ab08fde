"""catalog.money: exact parsing, the one spelling, base prices, per-million figures and percent changes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.money import (
    EXACT,
    MILLION,
    AmountFormatError,
    base_price,
    canonical,
    parse_amount,
    per_million,
    percent_change,
    reduced,
    significant,
    units_text,
)

amounts = st.decimals(min_value=Decimal("-1e8"), max_value=Decimal("1e8"), places=24, allow_nan=False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("0.0000002", Decimal("2e-7")), ("5.6e-7", Decimal("5.6e-7")), (" 12 ", Decimal(12)), (3, Decimal(3))],
)
def test_parse_amount_takes_decimal_text_exactly(raw: object, expected: Decimal) -> None:
    assert parse_amount(raw) == expected


@pytest.mark.parametrize("raw", [0.1, True, None, "1_000", "Infinity", "NaN", "0x10", "", "1e"])
def test_parse_amount_refuses_what_is_not_an_exact_amount_and_names_it(raw: object) -> None:
    with pytest.raises(AmountFormatError, match=r"^billed cost ") as err:
        parse_amount(raw, "billed cost")
    assert repr(raw) in str(err.value)


def test_a_float_is_refused_with_the_fix() -> None:
    with pytest.raises(AmountFormatError, match="parse_float=Decimal"):
        parse_amount(2e-7)


@given(amounts)
def test_reduced_keeps_the_value_and_drops_the_column_scale(value: Decimal) -> None:
    shortest = reduced(value)
    assert shortest == value
    assert canonical(shortest) == canonical(value)
    # The shortest form is what its own spelling reads back as (same digits, same exponent).
    assert shortest.as_tuple() == Decimal(canonical(value)).as_tuple() or value == 0


def test_canonical_is_one_spelling_per_number() -> None:
    assert {canonical(Decimal(t)) for t in ("0.000001", "1e-6", "0.0000010", "1E-6")} == {"0.000001"}
    assert canonical(Decimal("1E+3")) == "1000"
    assert canonical(Decimal("-0.000")) == "0"
    assert canonical(None) == "dynamic"


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [("0.000123456", 4, "0.0001235"), ("0.00012345", 4, "0.0001234"), ("123456.7", 4, "123457"), ("0", 4, "0")],
)
def test_significant_rounds_half_even_and_keeps_whole_digits(value: str, digits: int, expected: str) -> None:
    assert significant(Decimal(value), digits) == Decimal(expected)


def test_base_price_undoes_the_discount_inside_the_listed_price() -> None:
    # Baidu's deepseek/deepseek-v3.2 endpoint on 2026-08-08: DeepSeek's 0.28 / 0.42 $/M, 26 % off, as listed.
    discount = Decimal("0.26")
    assert base_price(Decimal("0.0000002072"), discount) == Decimal("0.00000028")
    assert base_price(Decimal("0.0000003108"), discount) == Decimal("0.00000042")
    assert base_price(Decimal("0.0000012"), Decimal(0)) == Decimal("0.0000012")
    assert base_price(Decimal("0.0000012"), Decimal("-0.2")) == Decimal("0.000001")  # a markup
    assert base_price(None, discount) is None
    assert base_price(Decimal(0), Decimal(1)) is None


def test_per_million_of_a_price_and_of_a_request() -> None:
    assert per_million(Decimal("0.0000002072")) == Decimal("0.2072")
    assert per_million(Decimal("0.021"), 21_000) == 1
    assert per_million(Decimal("0.000000123456"), digits=3) == Decimal("0.123")
    with pytest.raises(ValueError, match="0 tokens"):
        per_million(Decimal(1), 0)


@given(amounts, st.integers(min_value=1, max_value=10**7))
def test_per_million_times_tokens_gives_the_amount_back(amount: Decimal, tokens: int) -> None:
    back = EXACT.divide(EXACT.multiply(per_million(amount, tokens), Decimal(tokens)), MILLION)
    assert abs(back - amount) <= abs(amount) * Decimal("1e-70")


def test_percent_change() -> None:
    assert percent_change(Decimal("0.0000004"), Decimal("0.0000002")) == -50
    assert percent_change(Decimal(4), Decimal(5)) == 25
    third = percent_change(Decimal(3), Decimal(4))
    assert third is not None and third.quantize(Decimal("1e-60"), context=EXACT) == Decimal("33." + "3" * 60)
    assert percent_change(Decimal(0), Decimal(1)) is None


@given(
    st.one_of(
        st.integers(-(10**40), 10**40), st.integers(0, 10**5).map(lambda n: n * 10**7), st.sampled_from([0, 1, -1])
    ),
    st.integers(-3, 34),
)
def test_units_text_is_the_canonical_spelling_of_the_amount(units: int, scale: int) -> None:
    assert units_text(units, scale) == canonical(Decimal(units).scaleb(-scale, EXACT))
