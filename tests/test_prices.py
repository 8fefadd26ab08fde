"""Properties of ``catalog.prices``: exact parsing, one canonical spelling per number, and the upstream rules
(missing key = 0, ``"-1"`` = dynamic, ``discount`` kept as given, overrides as structured entries, unknown keys
kept visible)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from catalog.prices import (
    NON_PRICE_KEYS,
    PRICE_KEYS,
    PriceFormatError,
    canonical,
    content_hash,
    parse_price,
    parse_price_sheet,
)

OPTIONAL_KEYS = [k for k in PRICE_KEYS if k not in ("prompt", "completion")]
ZERO_SPELLINGS = ["0", "0.0", "0.000000", "0E-7", "0e+3", "00"]

digits = st.text(alphabet="0123456789", min_size=1, max_size=8)
fraction = st.text(alphabet="0123456789", max_size=24)


@st.composite
def price_texts(draw: st.DrawFn) -> str:
    """A non-negative decimal string with up to 8 integer and 24 fractional digits (real prices use ≤ 23)."""
    whole, frac = draw(digits), draw(fraction)
    return f"{whole}.{frac}" if frac else whole


@st.composite
def nonzero_price_texts(draw: st.DrawFn) -> str:
    text = draw(price_texts())
    assume(Decimal(text) != 0)
    return text


def sheet(**prices: Any) -> dict[str, Any]:
    return {"prompt": "0.000001", "completion": "0.000002", **prices}


# --- one number, one canonical spelling ------------------------------------------------------------------------


def test_spellings_of_one_number_are_equal() -> None:
    spellings = ["0.0000010", "1e-6", "0.000001", "1E-6", "1.0e-6", "0.000001000000"]
    values = [parse_price(s) for s in spellings]
    assert {canonical(v) for v in values} == {"0.000001"}
    assert values == [Decimal("0.000001")] * len(spellings)


@given(price_texts(), st.integers(min_value=1, max_value=5))
def test_every_spelling_of_a_number_has_one_canonical_form(text: str, extra_zeros: int) -> None:
    exact = Decimal(text)
    padded = f"{text}{'0' * extra_zeros}" if "." in text else f"{text}.{'0' * extra_zeros}"
    spellings = [text, padded, f"0{text}", format(exact, "e"), format(exact, "E"), format(exact, "f")]
    forms = {canonical(parse_price(s)) for s in spellings}
    assert len(forms) == 1, spellings
    (form,) = forms
    assert Decimal(form) == exact
    assert "e" not in form.lower()


@given(price_texts(), price_texts())
@example("12345678.123456789012345678901234", "12345678.123456789012345678901235")
@example("0.123456789012345678901234567891", "0.123456789012345678901234567892")
def test_canonical_forms_differ_exactly_when_the_numbers_differ(a: str, b: str) -> None:
    assert (canonical(parse_price(a)) == canonical(parse_price(b))) == (Decimal(a) == Decimal(b))


# --- exact parsing ---------------------------------------------------------------------------------------------


@given(price_texts())
@example("12345678.123456789012345678901234")  # 32 significant digits: more than decimal's default 28
@example("0.00000008333333333333334")  # the longest real price (23 fractional digits)
def test_parse_price_is_exact(text: str) -> None:
    value = parse_price(text)
    assert value == Decimal(text)
    assert Decimal(canonical(value)) == Decimal(text)


@given(st.integers(min_value=1, max_value=10**8 - 1), st.integers(min_value=0, max_value=22))
def test_scientific_notation_is_exact(mantissa: int, exponent: int) -> None:
    assert parse_price(f"{mantissa}e-{exponent}") == Decimal(mantissa).scaleb(-exponent)


@given(st.text(alphabet="0123456789", min_size=31, max_size=40).filter(lambda d: d[-1] != "0"))
@example("0010000000000000000000000000001")  # rounded to 28 significant digits it would "fit"
def test_a_price_finer_than_storage_is_refused_not_rounded(frac: str) -> None:
    text = f"0.{frac}"
    with pytest.raises(PriceFormatError, match="does not fit") as err:
        parse_price(text)
    assert repr(text) in str(err.value)


def test_the_minus_one_sentinel_is_dynamic() -> None:
    assert parse_price("-1") is None
    assert canonical(None) == "dynamic"
    parsed = parse_price_sheet(sheet(prompt="-1", completion="-1"))
    assert parsed.dynamic
    assert parsed.prices["prompt"] is None and parsed.prices["completion"] is None
    assert not parsed.free


@given(nonzero_price_texts())
def test_other_negative_prices_are_refused(text: str) -> None:
    negative = f"-{text}"
    assume(negative != "-1")
    with pytest.raises(PriceFormatError) as err:
        parse_price(negative)
    assert repr(negative) in str(err.value)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_refused(value: float) -> None:
    with pytest.raises(PriceFormatError) as err:
        parse_price(value)
    assert repr(value) in str(err.value)


@pytest.mark.parametrize(
    "value",
    [True, False, None, "abc", "NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", "", "  ", "1/2",
     "0x10", "1,5", "$0.5", "0.5 USD", Decimal("NaN"), Decimal("Infinity"), [], {}],
)  # fmt: skip
def test_values_that_are_not_decimal_prices_are_refused_by_name(value: Any) -> None:
    with pytest.raises(PriceFormatError) as err:
        parse_price(value)
    assert repr(value) in str(err.value)


@given(st.sampled_from(PRICE_KEYS), st.sampled_from(["abc", "NaN", "-0.5", "1e999"]))
def test_a_bad_value_in_a_sheet_names_its_key(key: str, value: str) -> None:
    with pytest.raises(PriceFormatError) as err:
        parse_price_sheet(sheet(**{key: value}))
    assert f"pricing.{key}" in str(err.value)
    assert repr(value) in str(err.value)


# --- a missing optional key means 0 ----------------------------------------------------------------------------


@given(
    st.dictionaries(st.sampled_from(OPTIONAL_KEYS), price_texts()),
    st.lists(st.sampled_from(OPTIONAL_KEYS), unique=True),
    st.sampled_from(ZERO_SPELLINGS),
)
def test_a_missing_optional_key_equals_one_listed_as_zero(
    listed: dict[str, str], dropped: list[str], zero: str
) -> None:
    dropped = [k for k in dropped if k not in listed]
    short = parse_price_sheet(sheet(**listed))
    full = parse_price_sheet(sheet(**listed, **dict.fromkeys(dropped, zero)))
    assert short.canonical() == full.canonical()
    assert content_hash(short.canonical()) == content_hash(full.canonical())
    assert short.prices == full.prices
    assert all(short.prices[k] == Decimal(0) for k in dropped)
    assert not set(dropped) & set(short.original())  # the listed strings stay as received


@given(st.sampled_from(OPTIONAL_KEYS), nonzero_price_texts())
def test_a_nonzero_value_for_a_missing_key_is_a_different_sheet(key: str, text: str) -> None:
    assert parse_price_sheet(sheet()).canonical() != parse_price_sheet(sheet(**{key: text})).canonical()


# --- discount --------------------------------------------------------------------------------------------------


discounts = st.decimals(min_value=Decimal(-5), max_value=Decimal(1), places=4, allow_nan=False)


@given(discounts, st.booleans(), price_texts())
def test_discount_is_kept_as_given_and_never_applied(discount: Decimal, as_text: bool, prompt: str) -> None:
    given_value: Any = str(discount) if as_text else discount
    parsed = parse_price_sheet(sheet(prompt=prompt, discount=given_value))
    assert parsed.discount == discount
    assert parsed.discount_text == str(given_value)
    assert parsed.prices["prompt"] == Decimal(prompt)  # the listed price already includes the discount
    assert parsed.canonical()["discount"] == canonical(discount)


def test_streamlakes_real_markup_is_a_negative_discount() -> None:
    # xiaomi/mimo-v2.5-pro @ streamlake, endpoint-stats-daily 2026-08-01: 1.2x the provider's price
    raw = (
        '{"prompt": "0.000000522", "completion": "0.000001044", "input_cache_read": "0.00000000432", "discount": -0.2}'
    )
    parsed = parse_price_sheet(json.loads(raw, parse_float=Decimal))
    assert parsed.discount == Decimal("-0.2")
    assert parsed.prices["prompt"] == Decimal("0.000000522")
    assert parsed.prices["completion"] == Decimal("0.000001044")


@given(st.decimals(min_value=Decimal("1.0001"), max_value=Decimal(10**6), places=4, allow_nan=False))
def test_a_discount_above_one_is_refused(discount: Decimal) -> None:
    with pytest.raises(PriceFormatError) as err:
        parse_price_sheet(sheet(discount=str(discount)))
    assert repr(str(discount)) in str(err.value)


@pytest.mark.parametrize("discount", [0.26, True, "NaN", "abc", "Infinity"])
def test_a_discount_that_is_not_an_exact_number_is_refused(discount: Any) -> None:
    with pytest.raises(PriceFormatError, match="discount"):
        parse_price_sheet(sheet(discount=discount))


# --- overrides -------------------------------------------------------------------------------------------------


@st.composite
def override_entries(draw: st.DrawFn) -> dict[str, Any]:
    prices = draw(st.dictionaries(st.sampled_from(PRICE_KEYS), price_texts(), min_size=1))
    conditions = {
        name: draw(st.integers(min_value=0, max_value=2_000_000_000))
        for name in ("min_prompt_tokens", "utc_start", "utc_end")
        if draw(st.booleans())
    }
    return {**conditions, **prices}


@given(st.lists(override_entries(), max_size=4))
def test_overrides_are_parsed_into_structured_entries(entries: list[dict[str, Any]]) -> None:
    parsed = parse_price_sheet(sheet(overrides=entries))
    assert len(parsed.overrides) == len(entries)
    for entry, override in zip(entries, parsed.overrides, strict=True):  # order kept: later entries win
        assert override.min_prompt_tokens == entry.get("min_prompt_tokens")
        assert override.utc_start == entry.get("utc_start")
        assert override.utc_end == entry.get("utc_end")
        listed = {k: v for k, v in entry.items() if k in PRICE_KEYS}
        assert override.prices == {k: Decimal(v) for k, v in listed.items()}  # absent keys inherit the base
        assert override.texts == listed
    assert parsed.prices["prompt"] == Decimal("0.000001")  # the base price is the default condition's
    assert not parsed.free or not entries


@given(override_entries(), price_texts())
def test_an_override_price_is_part_of_the_sheets_identity(entry: dict[str, Any], other: str) -> None:
    key = next(k for k in entry if k in PRICE_KEYS)
    assume(Decimal(other) != Decimal(entry[key]))
    changed = {**entry, key: other}
    before = parse_price_sheet(sheet(overrides=[entry])).canonical()
    assert before != parse_price_sheet(sheet(overrides=[changed])).canonical()


def test_a_real_long_context_tier() -> None:
    # google/gemini-2.5-pro @ google-vertex/global, endpoint-stats-daily 2026-08-05
    raw = json.loads(
        '{"prompt": "0.00000125", "completion": "0.00001", "input_cache_read": "0.000000125", "discount": 0,'
        ' "overrides": [{"min_prompt_tokens": 200000, "prompt": "0.0000025", "completion": "0.000015",'
        ' "input_cache_read": "0.00000025"}]}',
        parse_float=Decimal,
    )
    (tier,) = parse_price_sheet(raw).overrides
    assert (tier.min_prompt_tokens, tier.utc_start, tier.utc_end) == (200000, None, None)
    assert tier.prices == {
        "prompt": Decimal("0.0000025"),
        "completion": Decimal("0.000015"),
        "input_cache_read": Decimal("0.00000025"),
    }


def test_an_override_with_an_unknown_key_is_refused_by_name() -> None:
    with pytest.raises(PriceFormatError, match=r"overrides\[0\] has unknown key 'cheese'"):
        parse_price_sheet(sheet(overrides=[{"min_prompt_tokens": 1000, "cheese": "0.1"}]))


# --- unknown price keys ----------------------------------------------------------------------------------------


unknown_keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
    lambda k: k not in PRICE_KEYS and k not in NON_PRICE_KEYS and k != "display_pricing"
)


@given(unknown_keys, price_texts())
def test_an_unknown_price_key_is_kept_and_changes_the_canonical_form(key: str, text: str) -> None:
    known = parse_price_sheet(sheet())
    parsed = parse_price_sheet(sheet(**{key: text}))
    assert parsed.unknown == {key: text}
    assert parsed.prices == known.prices
    assert parsed.canonical() != known.canonical()
    assert parsed.original()[key] == text
