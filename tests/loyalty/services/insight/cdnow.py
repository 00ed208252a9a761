"""The CDNOW sample (tests/data/CDNOW_sample.txt): read it, summarise it, load it in the DB."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

import numpy as np
from django.conf import settings
from django.utils import timezone

from loyalty.models import Member, Purchase

CDNOW = Path(__file__).resolve().parents[3] / "data" / "CDNOW_sample.txt"
CALIBRATION_END = date(1997, 9, 30)
# Fader, Hardie & Lee (2005); Fader & Hardie (2013) for the Gamma-Gamma model.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


def transactions() -> list[tuple[int, date, Decimal]]:
    """(customer 1..2357, day, amount) for every line of the file."""
    rows = []
    for line in CDNOW.read_text().splitlines():
        _full_id, customer, day, _cds, amount = line.split()
        rows.append((int(customer), date(int(day[:4]), int(day[4:6]), int(day[6:])),
                     Decimal(amount)))
    return rows


def summary(end: date = CALIBRATION_END) -> np.ndarray:
    """Columns x, t_x, T (weeks), m_x per customer: purchases per distinct day up to `end`."""
    days = defaultdict(lambda: defaultdict(Decimal))
    for customer, day, amount in transactions():
        if day <= end:
            days[customer][day] += amount
    rows = []
    for spends in days.values():
        ordered = sorted(spends)
        first, x = ordered[0], len(ordered) - 1
        repeat = sum(spends[day] for day in ordered[1:])
        rows.append((x, (ordered[-1] - first).days / 7, (end - first).days / 7,
                     float(repeat) / x if x else 0.0))
    return np.array(rows)


def load_into_db(store) -> dict[int, Member]:
    """One member per CDNOW customer, one purchase per line (at noon, the programme's time)."""
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    rows = transactions()
    customers = sorted({customer for customer, _day, _amount in rows})
    members = Member.objects.bulk_create(
        [Member(card_number=f"CD{customer:010d}") for customer in customers], batch_size=1000)
    by_customer = dict(zip(customers, members, strict=True))
    now = timezone.now()
    Purchase.objects.bulk_create(
        [Purchase(store=store, order_id=f"cdnow-{line}", member=by_customer[customer],
                  amount=amount, occurred_at=datetime.combine(day, time(12), tzinfo=zone),
                  fingerprint=f"cdnow-{line}", created_at=now)
         for line, (customer, day, amount) in enumerate(rows)], batch_size=1000)
    return by_customer
