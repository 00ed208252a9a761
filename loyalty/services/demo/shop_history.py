"""The e-shop's order history from before the programme, imported as a shop would.

A shop that starts a loyalty programme already has customers: their past orders
are what the insight pages learn from (who buys, who left, what each is worth).
The demo builds that history as a CSV export of the e-shop (customer number,
order, date, amount, names) and loads it with `import_purchases`, the same
service a manager's upload goes through: no points are credited for it.

The customers behave as the lifetime value model assumes real ones do (which is
what makes its fit meaningful rather than degenerate): each buys at their own
rate while active (Poisson, rates Gamma-distributed across customers), may leave
for good after any purchase (with a Beta-distributed probability of their own),
and spends around their own average (Gamma-distributed around a Gamma mean).
"""

from __future__ import annotations

import csv
import io
import random
from datetime import datetime, timedelta
from decimal import Decimal

from loyalty.models import Store
from loyalty.services.demo.data import CENT, ENGLISH, FRENCH, HISTORY_DAYS
from loyalty.services.imports.purchases import import_purchases

REF_PREFIX = "WEB-"
ORDER_PREFIX = "HIST-"
CUSTOMERS_PER_MEMBER = 2  # the e-shop's past customers, per member of the demo programme
# Across customers: purchases a week while active ~ Gamma(shape, scale); leaving after a
# purchase ~ Beta(a, b); a customer's mean spend ~ Gamma(shape, scale), each order
# ~ Gamma(ORDER_SHAPE) around it.
RATE = (1.2, 0.1)
DROPOUT = (1.0, 3.5)
MEAN_SPEND = (6.0, 10.0)
ORDER_SHAPE = 8.0
ACQUISITION_DAYS = 600  # first orders spread over the history's first 600 days


def shop_history_csv(*, rng: random.Random, now: datetime, customers: int) -> bytes:
    """The export: one row an order, oldest customers first. Deterministic for `rng`."""
    start = now - timedelta(days=HISTORY_DAYS)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["customer_ref", "order_id", "occurred_at", "amount", "first_name",
                     "last_name"])
    order = 0
    for index in range(1, customers + 1):
        first_names, last_names = FRENCH if rng.random() < 0.8 else ENGLISH
        names = [rng.choice(first_names), rng.choice(last_names)]
        rate = rng.gammavariate(*RATE)  # purchases a week
        dropout = rng.betavariate(*DROPOUT)
        mean_spend = max(rng.gammavariate(*MEAN_SPEND), 8.0)
        at = start + timedelta(days=rng.uniform(0, ACQUISITION_DAYS))
        while at < now:
            order += 1
            amount = Decimal(str(max(rng.gammavariate(ORDER_SHAPE, mean_spend / ORDER_SHAPE),
                                     5.0))).quantize(CENT)
            writer.writerow([f"{REF_PREFIX}{index:05d}", f"{ORDER_PREFIX}{order:06d}",
                             at.isoformat(timespec="seconds"), amount, *names])
            if rng.random() < dropout:
                break
            at += timedelta(weeks=rng.expovariate(rate))
    return out.getvalue().encode()


def import_shop_history(*, rng: random.Random, now: datetime, customers: int,
                        store: Store) -> dict:
    """Import the e-shop's past orders into `store` (no points); returns the import summary.

    Idempotent like any import: a second run finds every order already present.
    """
    content = shop_history_csv(rng=rng, now=now, customers=customers)
    return import_purchases(source=content, store=store, now=now)
