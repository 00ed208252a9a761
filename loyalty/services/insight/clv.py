"""Customer lifetime value: fit BG/NBD + Gamma-Gamma on the purchase history, score members."""

from __future__ import annotations

from datetime import date, datetime

from loyalty.models import ClvFit


def fit_and_score(*, calibration_end: date | None = None,
                  now: datetime | None = None) -> ClvFit:
    """Fit the lifetime value models on purchases up to `calibration_end` and score members.

    `calibration_end` defaults to today in the programme time zone, `now` to the current
    time. Stores and returns a ClvFit (status ok, insufficient_data or failed) and writes
    p_alive, expected_purchases, expected_spend, predicted_value and clv_at on each
    member's MemberInsight row (NULL when no prediction can be made).
    """
    raise NotImplementedError
