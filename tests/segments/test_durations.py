"""ISO 8601 durations with calendar months."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from segments.durations import Duration, DurationError


@pytest.mark.parametrize(
    ("text", "months", "days", "seconds"),
    [
        ("PT30M", 0, 0, 1800),
        ("P3D", 0, 3, 0),
        ("P2M", 2, 0, 0),
        ("P1Y", 12, 0, 0),
        ("P1W", 0, 7, 0),
        ("P1DT12H", 0, 1, 43200),
        ("pt45s", 0, 0, 45),
        ("P1Y2M3W4DT5H6M7S", 14, 25, 18367),
    ],
)
def test_parse(text, months, days, seconds):
    duration = Duration.parse(text)
    assert (duration.months, duration.days, duration.seconds) == (months, days, seconds)


@pytest.mark.parametrize("text", ["", "P", "PT", "3D", "P-1D", "P1.5D", "P0D", "PT0S", "P1H", "P25Y", "soon", 5])
def test_bad_durations_are_refused(text):
    with pytest.raises(DurationError):
        Duration.parse(text)


def test_months_are_calendar_months_clamped_to_the_month_end():
    jan31 = datetime(2025, 1, 31, 10, tzinfo=UTC)
    assert Duration.parse("P1M").after(jan31) == datetime(2025, 2, 28, 10, tzinfo=UTC)
    assert Duration.parse("P1M").after(datetime(2024, 1, 31, tzinfo=UTC)) == datetime(2024, 2, 29, tzinfo=UTC)
    assert Duration.parse("P2M").before(datetime(2025, 4, 30, tzinfo=UTC)) == datetime(2025, 2, 28, tzinfo=UTC)
    assert Duration.parse("P1Y").after(datetime(2024, 12, 17, tzinfo=UTC)) == datetime(2025, 12, 17, tzinfo=UTC)


def test_days_and_seconds_are_exact():
    start = datetime(2024, 12, 17, 13, tzinfo=UTC)
    assert Duration.parse("P3D").after(start) == datetime(2024, 12, 20, 13, tzinfo=UTC)
    assert Duration.parse("PT90M").before(start) == datetime(2024, 12, 17, 11, 30, tzinfo=UTC)


def test_moments_past_the_calendars_ends_saturate_instead_of_failing():
    """An event dated year 1 (accepted from the simulator) asked for a window before it: an OverflowError,
    a 500. The window starts at the first representable moment instead; the far end likewise."""
    first, last = datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)
    assert Duration.parse("P3D").before(datetime(1, 1, 2, tzinfo=UTC)) == first
    assert Duration.parse("P1M").before(datetime(1, 1, 20, tzinfo=UTC)) == first
    assert Duration.parse("P1M").after(datetime(9999, 12, 15, tzinfo=UTC)) == last
    assert Duration.parse("PT1H").after(datetime(9999, 12, 31, 23, 30, tzinfo=UTC)) == last
