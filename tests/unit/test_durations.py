"""The duration grammar: what SLA targets may be written as, and what is refused."""

from datetime import timedelta

import pytest

from inbox.sla.durations import Duration, Unit, parse_duration


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("30 minutes", 30, Unit.MINUTES),
        ("1 minute", 1, Unit.MINUTES),
        ("4 hours", 4, Unit.HOURS),
        ("1 hour", 1, Unit.HOURS),
        ("30 days", 30, Unit.DAYS),
        ("1 week", 1, Unit.WEEKS),
        ("2 weeks", 2, Unit.WEEKS),
        ("4 business hours", 4, Unit.BUSINESS_HOURS),
        ("2 business days", 2, Unit.BUSINESS_DAYS),
        ("1 business day", 1, Unit.BUSINESS_DAYS),
        ("90 business minutes", 90, Unit.BUSINESS_MINUTES),
        ("30 min", 30, Unit.MINUTES),
        ("30m", 30, Unit.MINUTES),
        ("4h", 4, Unit.HOURS),
        ("2d", 2, Unit.DAYS),
        ("1w", 1, Unit.WEEKS),
    ],
)
def test_plain_forms_parse(text: str, amount: int, unit: Unit) -> None:
    """Every documented spelling and abbreviation parses to its amount and unit."""
    assert parse_duration(text) == Duration(amount, unit)


def test_case_and_spacing_do_not_matter() -> None:
    """Upper case, tabs and repeated spaces parse the same as the canonical form."""
    assert parse_duration("  4 \t BUSINESS   Hours ") == Duration(4, Unit.BUSINESS_HOURS)
    assert parse_duration("4 H") == Duration(4, Unit.HOURS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT4H", Duration(4, Unit.HOURS)),
        ("P2D", Duration(2, Unit.DAYS)),
        ("PT30M", Duration(30, Unit.MINUTES)),
        ("P1W", Duration(1, Unit.WEEKS)),
        ("pt4h", Duration(4, Unit.HOURS)),
        ("P1DT2H", Duration(26, Unit.HOURS)),
        ("PT1H30M", Duration(90, Unit.MINUTES)),
    ],
)
def test_iso_8601_forms_parse_as_wall_clock(text: str, expected: Duration) -> None:
    """ISO 8601 week, day and time parts parse as wall-clock time, mixed ones in their finest unit."""
    assert parse_duration(text) == expected
    assert not parse_duration(text).is_business


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4 bizness hours", '"4 bizness hours" is not a duration'),
        ("", '"" is not a duration'),
        ("hours", '"hours" is not a duration'),
        ("4 hours 30 minutes", '"4 hours 30 minutes" is not a duration'),
        ("0 hours", '"0 hours" is not a duration: the amount must be a positive whole number'),
        ("-1 hours", '"-1 hours" is not a duration: the amount must be a positive whole number'),
        ("1.5 hours", '"1.5 hours" is not a duration: the amount must be a whole number'),
        ("30", '"30" is not a duration: give a unit, such as "30 minutes"'),
        ("1 month", '"1 month" is not a duration: months and years vary in length; use days or weeks'),
        ("2 business weeks", '"2 business weeks" is not a duration: count business time in business days'),
        ("P1M", '"P1M" is not a duration: months and years vary in length; use days or weeks'),
        ("P1Y", '"P1Y" is not a duration: months and years vary in length; use days or weeks'),
        ("PT30S", '"PT30S" is not a duration'),
        ("PT", '"PT" is not a duration'),
        ("P0D", '"P0D" is not a duration: the amount must be a positive whole number'),
    ],
)
def test_bad_text_is_refused_with_a_clear_message(text: str, message: str) -> None:
    """Text that is not a duration raises ValueError saying so, and why when it can tell."""
    with pytest.raises(ValueError) as caught:
        parse_duration(text)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "text",
    ["1 minute", "30 minutes", "1 hour", "4 hours", "1 day", "30 days", "1 week", "2 weeks",
     "1 business minute", "4 business hours", "1 business day", "2 business days"],
)
def test_str_gives_back_the_canonical_text(text: str) -> None:
    """Printing a parsed duration gives its canonical text, singular for one, which parses back equal."""
    duration = parse_duration(text)
    assert str(duration) == text
    assert parse_duration(str(duration)) == duration


def test_abbreviations_print_in_full() -> None:
    """An abbreviation prints as the canonical words."""
    assert str(parse_duration("4h")) == "4 hours"
    assert str(parse_duration("P1W")) == "1 week"


def test_is_business_only_for_business_units() -> None:
    """Only business minutes, hours and days are counted on a calendar."""
    business = {unit for unit in Unit if Duration(1, unit).is_business}
    assert business == {Unit.BUSINESS_MINUTES, Unit.BUSINESS_HOURS, Unit.BUSINESS_DAYS}


def test_wall_clock_gives_elapsed_time() -> None:
    """Plain units convert to the timedelta they stand for."""
    assert parse_duration("30 minutes").wall_clock() == timedelta(minutes=30)
    assert parse_duration("4 hours").wall_clock() == timedelta(hours=4)
    assert parse_duration("30 days").wall_clock() == timedelta(days=30)
    assert parse_duration("2 weeks").wall_clock() == timedelta(days=14)


def test_wall_clock_refuses_business_units() -> None:
    """A business duration has no fixed elapsed time, so wall_clock raises."""
    with pytest.raises(ValueError, match="business calendar"):
        parse_duration("4 business hours").wall_clock()


@pytest.mark.parametrize("amount", [0, -3, True, 2.5])
def test_duration_refuses_an_amount_that_is_not_a_positive_whole_number(amount: object) -> None:
    """A Duration built in code fails at construction, like one parsed from text."""
    with pytest.raises(ValueError):
        Duration(amount, Unit.HOURS)  # type: ignore[arg-type]


def test_duration_is_immutable_and_hashable() -> None:
    """Durations are values: equal ones hash alike and cannot be changed."""
    assert hash(Duration(4, Unit.HOURS)) == hash(parse_duration("4h"))
    with pytest.raises(AttributeError):
        parse_duration("4h").amount = 5  # type: ignore[misc]
