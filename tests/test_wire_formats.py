"""The wire's timestamps: `iso` writes every datetime exactly as `isoformat` does, with "Z" for UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from mlregistry.services.presenters import iso

MOMENTS = [
    datetime(2026, 12, 7, 4, 32, 47, 788866, tzinfo=UTC),
    datetime(2026, 12, 7, 4, 32, 47, tzinfo=UTC),  # a whole second: no fraction
    datetime(2026, 12, 7, 4, 32, 47, 1, tzinfo=UTC),
    datetime(2026, 12, 7, 4, 32, 47, 100000, tzinfo=UTC),
    datetime(1, 1, 1, tzinfo=UTC),
    datetime(999, 2, 3, 4, 5, 6, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 1, 1, 12, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(hours=-3, seconds=7))),
    datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=timezone(timedelta(0), "UTC-named")),
    datetime(2026, 1, 1, 12, 0, 0, 5),  # naive
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_iso_is_isoformat_with_z_for_utc(moment: datetime) -> None:
    assert iso(moment) == moment.isoformat().replace("+00:00", "Z")


def test_iso_of_nothing_is_none() -> None:
    assert iso(None) is None
