"""A large file in constant memory: rows are streamed and staged a chunk at a time."""

import tracemalloc
from datetime import UTC, datetime

import pytest

from loyalty.models import Purchase
from loyalty.services.imports.purchases import import_purchases

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def write_file(path, rows: int, prefix: str) -> str:
    with open(path, "w", encoding="utf-8") as out:
        out.write("customer_ref,order_id,occurred_at,amount,email,sku,category,quantity\n")
        for n in range(rows):
            order = n // 2  # two lines an order
            customer = order // 3
            email = f"{prefix}{customer}@example.com" if customer % 2 else ""
            sku = f"SKU-{n % 50},cat-{n % 7},2" if n % 2 else ",,"
            out.write(f"{prefix}{customer},{prefix}-{order},"
                      f"2024-{1 + order % 12:02d}-{1 + order % 28:02d}T10:{order % 60:02d}:00,"
                      f"{(n % 997) * 2 + 2}.00,{email},{sku}\n")
    return str(path)


def peak_of(path, store) -> tuple[int, dict]:
    tracemalloc.start()
    try:
        summary = import_purchases(source=path, store=store, now=NOW)
        return tracemalloc.get_traced_memory()[1], summary
    finally:
        tracemalloc.stop()


@pytest.mark.postgres
def test_a_file_ten_times_larger_takes_no_more_memory(store, tmp_path):
    small, small_summary = peak_of(write_file(tmp_path / "small.csv", 10_000, "S"), store)
    large, large_summary = peak_of(write_file(tmp_path / "large.csv", 100_000, "L"), store)
    assert small_summary["purchases_added"] == 5_000
    assert large_summary["purchases_added"] == 50_000
    assert Purchase.objects.count() == 55_000
    # One chunk of rows at a time and bounded caches: ten times the rows is not ten times
    # the memory (keeping even 100 bytes per order would add 5 MB here).
    assert large < small + 2 * 1024 * 1024, (small, large)
