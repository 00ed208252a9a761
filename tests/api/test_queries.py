"""Query budgets: what a request costs the database, whatever the member's history.

Authentication with a key costs one query (the key by prefix, with its store) when the
key is not in the configuration cache, nothing when it is, plus an UPDATE of
`last_used_at` at most once a minute per key; the tests warm the key up first, so that
the budget measured is the steady state: no query for the key.
"""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from loyalty import selectors
from loyalty.services import purchases

KEY_LOOKUP = 0  # the key comes from the configuration cache once warm
MEMBER_VIEW = 3  # the member (with tier), its expiring lots, its external id for the store
# Measured 10 with a warm configuration cache: SAVEPOINT, lock the member, look the order
# up, the ledger entry, its lot, the balance, the purchase, its items, the qualifying
# points for the tier, RELEASE. The scale, tiers, webhook endpoints and key are cached.
PURCHASE_BUDGET = 10


def count_queries(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as context:
        response = call()
    return len(context.captured_queries), response


def test_authentication_costs_one_query_and_a_last_used_update_once_a_minute(client_web,
                                                                            member):
    first, _ = count_queries(lambda: client_web.get("/api/v1/programme/"))
    second, _ = count_queries(lambda: client_web.get("/api/v1/programme/"))
    assert first == second + 2  # the key's SELECT and its last_used_at UPDATE, once


def test_a_member_costs_at_most_three_queries_besides_the_key(client_web, member,
                                                              django_assert_max_num_queries):
    url = f"/api/v1/members/{member.pk}/"
    client_web.get(url)  # warm the key up: last_used_at is recent
    with django_assert_max_num_queries(KEY_LOOKUP + MEMBER_VIEW) as captured:
        response = client_web.get(url)
    assert response.status_code == 200
    # Measured: on PostgreSQL one statement (selectors.member_payload); elsewhere the member,
    # its expiring points, its external id.
    assert len(captured) == (1 if connection.vendor == "postgresql" else 3)


def test_a_member_query_count_does_not_grow_with_history(client_web, member, web):
    url = f"/api/v1/members/{member.pk}/"
    client_web.get(url)
    before, _ = count_queries(lambda: client_web.get(url))
    for n in range(25):
        purchases.record_purchase(store=web, order_id=f"A{n}", amount=f"{n + 1}.00",
                                  member=member)
    after, response = count_queries(lambda: client_web.get(url))
    assert response.json()["points"]["balance"] == sum(range(1, 26))
    assert after == before


def test_a_transactions_page_query_count_does_not_grow_with_history(client_web, member, web):
    url = f"/api/v1/members/{member.pk}/transactions/"
    purchases.record_purchase(store=web, order_id="A", amount="1.00", member=member)
    client_web.get(url)
    before, _ = count_queries(lambda: client_web.get(url))
    for n in range(20):
        purchases.record_purchase(store=web, order_id=f"A{n}", amount="1.00", member=member)
    after, response = count_queries(lambda: client_web.get(url))
    assert response.json()["count"] == 21
    assert after == before


def test_a_purchase_with_three_items_is_bounded_and_more_items_cost_no_more(
        client_web, member, django_assert_max_num_queries):
    def items(count):
        return [{"sku": f"S{n}", "category": "c", "quantity": 1, "unit_price": "10.00"}
                for n in range(count)]

    client_web.post("/api/v1/purchases/", {  # warms the key and the configuration cache
        "order_id": "P-0", "amount": "1.00", "member_id": member.pk}, format="json")
    with django_assert_max_num_queries(PURCHASE_BUDGET) as captured:
        response = client_web.post("/api/v1/purchases/", {
            "order_id": "P-3", "amount": "30.00", "member_id": member.pk, "items": items(3)},
            format="json")
    assert response.status_code == 201
    three = len(captured)
    thirty, response = count_queries(lambda: client_web.post("/api/v1/purchases/", {
        "order_id": "P-30", "amount": "300.00", "member_id": member.pk, "items": items(30)},
        format="json"))
    assert response.status_code == 201
    assert thirty == three


def test_a_replayed_purchase_costs_a_few_queries(client_web, member):
    payload = {"order_id": "P-1", "amount": "10.00", "member_id": member.pk}
    client_web.post("/api/v1/purchases/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k")
    replay, response = count_queries(lambda: client_web.post(
        "/api/v1/purchases/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k"))
    assert response["Idempotent-Replayed"] == "true"
    # Measured 2: the key, the stored record. No purchase work at all.
    assert replay <= 3


@pytest.mark.postgres
def test_a_transactions_page_reads_the_member_history_index_in_its_order(member, web):
    """(member, -created_at, -id): the first page comes from the index, nothing sorted."""
    for n in range(30):
        purchases.record_purchase(store=web, order_id=f"A{n}", amount="1.00", member=member)
    query = selectors.transactions(member=member)[:20]
    statement, params = query.query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a table this small would be read whole
        cursor.execute("EXPLAIN " + statement, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "entry_member_history" in plan, plan
    assert "Sort" not in plan, plan
