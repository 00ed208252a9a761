"""import_purchases: a shop's history in, all of a file or nothing, once.

Every test here runs on SQLite and on PostgreSQL (where the second pass is
set-based SQL): the same files must give the same stored result on both.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from loyalty.models import Card, ExternalId, Member, PointsEntry, Purchase, PurchaseItem
from loyalty.services.cards import is_valid_card_number
from loyalty.services.imports import ImportRejected
from loyalty.services.imports.purchases import import_purchases
from loyalty.services.inputs import content_fingerprint
from loyalty.services.purchases import record_purchase
from tests.factories import StoreFactory, TierFactory, make_member, programme
from tests.loyalty.services.imports.conftest import purchases

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FULL = "customer_ref,order_id,occurred_at,amount,email,first_name,last_name,sku,category,quantity"


def run(data: bytes, store, **kwargs) -> dict:
    return import_purchases(source=data, store=store, now=NOW, **kwargs)


def rejected(data: bytes, store, **kwargs) -> ImportRejected:
    with pytest.raises(ImportRejected) as error:
        run(data, store, **kwargs)
    return error.value


def stored() -> dict:
    """Everything an import writes, in a form independent of ids and random card numbers."""
    refs = {}
    for value, member_id in ExternalId.objects.order_by("value").values_list("value",
                                                                              "member_id"):
        refs.setdefault(member_id, []).append(value)

    def who(member_id):
        return "+".join(refs.get(member_id, [f"#{member_id}"]))

    return {
        "members": sorted((who(m.pk), m.email, m.first_name, m.last_name, m.tier_id is not None,
                           is_valid_card_number(m.card_number))
                          for m in Member.objects.all()),
        "cards": Card.objects.count(),
        "purchases": sorted(
            (p.order_id, who(p.member_id), str(p.amount), p.occurred_at.isoformat(),
             p.points_earned, p.entry_id, p.fingerprint)
            for p in Purchase.objects.all()),
        "items": sorted((i.purchase.order_id, i.sku, i.category, i.quantity, str(i.unit_price))
                        for i in PurchaseItem.objects.select_related("purchase")),
    }


# --- what a good file gives ----------------------------------------------------------------


MIXED = purchases(
    "C1,O1,2024-03-01,10.00,Ann@Example.com,Ann,Lee,SKU-1,shoes,2",
    "C1,O1,2024-03-01,5.50,,,,,,",
    "C2,O2,2024-03-02T10:00:00+02:00,20.00,,Bob,,,,",
    "C3,O3,2024-03-03 12:00,7.00,ann@example.com,Annie,,,,",
    "C4,O4,2024-03-04T08:00:00Z,0.00,,,,,,",
    "C2,O5,2024-03-05 09:30:15,3.30,bob@example.com,,,Tée,Café crème,3",
    "C1,O1,2024-03-01,4.00,,,,SKU-2,,1",
    header=FULL)


def test_a_mixed_file_gives_members_purchases_and_lines(store):
    base = TierFactory(code="base", rank=0, threshold=0)
    summary = run(MIXED, store)
    assert summary == {
        "rows": 7, "orders": 5, "members_created": 3, "members_matched": 0,
        "purchases_added": 5, "already_present": 0, "items_added": 3, "points_credited": 0,
        "store": "paris", "credit_points": False, "ignored_columns": []}
    assert stored() == {
        # C1 and C3 give the same email: one person, one member, both refs.
        "members": [("C1+C3", "ann@example.com", "Ann", "Lee", True, True),
                    ("C2", "bob@example.com", "Bob", "", True, True),
                    ("C4", "", "", "", True, True)],
        "cards": 3,
        "purchases": [
            ("O1", "C1+C3", "19.50", "2024-02-29T23:00:00+00:00", 0, None,
             content_fingerprint({"amount": Decimal("19.50"), "items": [
                 {"sku": "SKU-1", "category": "shoes", "quantity": 2,
                  "unit_price": Decimal("5.00")},
                 {"sku": "SKU-2", "category": "", "quantity": 1,
                  "unit_price": Decimal("4.00")}]})),
            ("O2", "C2", "20.00", "2024-03-02T08:00:00+00:00", 0, None,
             content_fingerprint({"amount": Decimal("20.00"), "items": []})),
            ("O3", "C1+C3", "7.00", "2024-03-03T11:00:00+00:00", 0, None,
             content_fingerprint({"amount": Decimal("7.00"), "items": []})),
            ("O4", "C4", "0.00", "2024-03-04T08:00:00+00:00", 0, None,
             content_fingerprint({"amount": Decimal("0.00"), "items": []})),
            ("O5", "C2", "3.30", "2024-03-05T08:30:15+00:00", 0, None,
             content_fingerprint({"amount": Decimal("3.30"), "items": [
                 {"sku": "Tée", "category": "Café crème", "quantity": 3,
                  "unit_price": Decimal("1.10")}]})),
        ],
        "items": [("O1", "SKU-1", "shoes", 2, "5.00"), ("O1", "SKU-2", "", 1, "4.00"),
                  ("O5", "Tée", "Café crème", 3, "1.10")],
    }
    assert set(Member.objects.values_list("tier", flat=True)) == {base.pk}
    assert PointsEntry.objects.count() == 0


def test_an_imported_order_sent_again_through_the_api_is_recognised_not_a_conflict(store):
    run(MIXED, store)
    member = ExternalId.objects.get(value="C2").member
    again = record_purchase(store=store, order_id="O5", amount="3.30", member=member,
                            items=[{"sku": "Tée", "category": "Café crème", "quantity": 3,
                                    "unit_price": "1.10"}], now=NOW)
    assert again.created is False


def test_reimporting_a_file_adds_nothing_and_says_it_was_already_present(store):
    run(MIXED, store)
    before = stored()
    summary = run(MIXED, store)
    assert summary["purchases_added"] == 0
    assert summary["already_present"] == summary["orders"] == 5
    assert summary["members_created"] == 0 and summary["members_matched"] == 4
    assert stored() == before


def test_a_file_overlapping_a_previous_one_adds_only_the_new_orders(store):
    run(purchases("C1,O1,2024-03-01,10.00", "C1,O2,2024-03-02,11.00"), store)
    summary = run(purchases("C1,O2,2024-03-02,11.00", "C1,O3,2024-03-03,12.00"), store)
    assert (summary["purchases_added"], summary["already_present"]) == (1, 1)
    assert Purchase.objects.count() == 3 and Member.objects.count() == 1


def test_times_without_an_offset_are_the_programmes_time_zone(settings, store):
    assert settings.TIME_ZONE == "Europe/Paris"
    run(purchases("C1,A,2024-07-01,1.00", "C1,B,2024-07-01 18:30,1.00",
                  "C1,C,2024-07-01T18:30:00-04:00,1.00"), store)
    times = dict(Purchase.objects.values_list("order_id", "occurred_at"))
    assert times == {"A": datetime(2024, 6, 30, 22, 0, tzinfo=UTC),
                     "B": datetime(2024, 7, 1, 16, 30, tzinfo=UTC),
                     "C": datetime(2024, 7, 1, 22, 30, tzinfo=UTC)}


# --- who the customer is -------------------------------------------------------------------------


def test_customers_are_found_by_external_id_then_in_another_store_then_by_email(store):
    web = StoreFactory(code="web")
    here = make_member(email="here@example.com", external_id="C1", store=store)
    elsewhere = make_member(email="else@example.com", external_id="C2", store=web)
    by_email = make_member(email="mail@example.com")
    summary = run(purchases("C1,O1,2024-03-01,1.00,",
                            "C2,O2,2024-03-01,1.00,",
                            "C3,O3,2024-03-01,1.00,MAIL@example.com",
                            header="customer_ref,order_id,occurred_at,amount,email"), store)
    assert summary["members_created"] == 0 and summary["members_matched"] == 3
    owners = dict(Purchase.objects.values_list("order_id", "member_id"))
    assert owners == {"O1": here.pk, "O2": elsewhere.pk, "O3": by_email.pk}
    # Whoever they are, their customer_ref now belongs to them in this store too.
    assert dict(ExternalId.objects.filter(store=store).values_list("value", "member_id")) == {
        "C1": here.pk, "C2": elsewhere.pk, "C3": by_email.pk}


def test_a_customer_ref_held_by_two_members_in_other_stores_is_rejected_not_guessed(
        store, errors_of):
    make_member(email="a@example.com", external_id="C9", store=StoreFactory(code="web"))
    make_member(email="b@example.com", external_id="C9", store=StoreFactory(code="lyon"))
    error = rejected(purchases("C1,O1,2024-03-01,1.00", "C9,O2,2024-03-01,1.00"), store)
    assert errors_of(error) == [(3, "customer_ref", "customer_ambiguous")]
    assert not Purchase.objects.exists()


# --- bad files write nothing ---------------------------------------------------------------


def test_bad_rows_are_reported_by_line_and_column_and_nothing_is_written(store, errors_of):
    make_member(email="known@example.com")
    members_before = Member.objects.count()
    error = rejected(purchases(
        "C1,O1,2024-03-01,10.00,,,,,,",
        ",O2,2024-03-01,10.00,,,,,,",
        "C3,O3,01/03/2024,10.00,,,,,,",
        "C4,O4,2024-03-01,10.001,,,,,,",
        "C5,O5,2024-03-01,-1,,,,,,",
        "C6,O6,2024-03-01,ten,not-an-email,,,,,",
        "C7,O7,2099-01-01,1.00,,,,,,",
        "C8,O8,2010-01-01,1.00,,,,,,",
        "C9,O9,2024-03-01,10.00,,,,SKU,,3",
        "C10,O10,2024-03-01,10.00,,,,,,2",
        "C11,O11,2024-03-01,10.00,,,,SKU,,0",
        "C12,O12,2024-03-01,999999.00,,,,,,",
        "C13,O13,2024-03-01,1.00,,,,,,", header=FULL), store)
    assert errors_of(error) == [
        (3, "customer_ref", "required"),
        (4, "occurred_at", "invalid_datetime"),
        (5, "amount", "invalid_amount"),
        (6, "amount", "invalid_amount"),
        (7, "amount", "invalid_amount"),
        (7, "email", "invalid_email"),
        (8, "occurred_at", "in_future"),
        (9, "occurred_at", "too_old"),
        (10, "amount", "uneven_split"),
        (11, "quantity", "sku_required"),
        (12, "quantity", "out_of_range"),
        (13, "amount", "invalid_amount"),
    ]
    assert error.error_count == 12
    assert not Purchase.objects.exists() and not ExternalId.objects.exists()
    assert Member.objects.count() == members_before


def test_a_rejected_file_lists_its_first_hundred_errors_and_counts_the_rest(store):
    rows = [f"C{n},O{n},2024-03-01,{'bad' if n % 2 else '1.00'}" for n in range(1, 301)]
    error = rejected(purchases(*rows), store)
    assert error.error_count == 150
    assert len(error.errors) == 100
    assert [e.line for e in error.errors] == list(range(2, 201, 2))
    assert error.report_lines()[-1] == "... and 50 more"
    assert not Purchase.objects.exists() and not Member.objects.exists()


def test_lines_of_one_order_must_agree_on_customer_and_time(store, errors_of):
    error = rejected(purchases("C1,O1,2024-03-01,1.00", "C2,O2,2024-03-01,1.00",
                               "C9,O1,2024-03-01,1.00", "C2,O2,2024-03-02,1.00"), store)
    assert errors_of(error) == [(4, "customer_ref", "order_mismatch"),
                                (5, "occurred_at", "order_mismatch")]
    assert "line 2" in error.errors[0].message
    assert not Purchase.objects.exists()


def test_an_order_whose_lines_add_up_beyond_the_maximum_is_rejected(settings, store, errors_of):
    settings.LOYALTY_MAX_PURCHASE_AMOUNT = "100.00"
    error = rejected(purchases("C1,O1,2024-03-01,60.00", "C1,O1,2024-03-01,60.00"), store)
    assert errors_of(error) == [(2, "amount", "order_too_large")]


def test_an_order_already_stored_with_another_amount_or_customer_is_a_conflict(
        store, errors_of):
    member = make_member(email="a@example.com", external_id="C1", store=store)
    other = make_member(email="b@example.com", external_id="C2", store=store)
    record_purchase(store=store, order_id="O1", amount="10.00", member=member, now=NOW)
    record_purchase(store=store, order_id="O2", amount="10.00", member=other, now=NOW)
    record_purchase(store=store, order_id="O3", amount="10.00", member=member, now=NOW)
    error = rejected(purchases("C1,O1,2024-03-01,10.00",   # the same: already present
                               "C1,O2,2024-03-01,10.00",   # another customer
                               "C1,O3,2024-03-01,12.00",   # another amount
                               "C3,O4,2024-03-01,1.00"), store)
    assert errors_of(error) == [(3, "order_id", "order_conflict"),
                                (4, "order_id", "order_conflict")]
    assert Purchase.objects.count() == 3 and not ExternalId.objects.filter(value="C3").exists()


def test_the_same_order_in_another_store_is_another_order(store):
    web = StoreFactory(code="web")
    run(purchases("C1,O1,2024-03-01,10.00"), web)
    summary = run(purchases("C1,O1,2024-03-01,12.00"), store)
    assert summary["purchases_added"] == 1
    assert Member.objects.count() == 1  # C1 of web is C1 here: one member in another store


# --- points ----------------------------------------------------------------------------------


def test_history_earns_no_points_unless_asked(store, scale):
    run(purchases("C1,O1,2025-05-01,50.00"), store)
    member = Member.objects.get()
    assert (member.balance, member.lifetime_earned) == (0, 0)
    assert Purchase.objects.get().points_earned == 0


def test_credit_points_goes_through_the_ledger_oldest_first(store, scale, capsys):
    programme(return_window_days=0, points_validity_days=365)
    summary = run(purchases("C1,O2,2025-05-01,50.00", "C1,O1,2023-01-01,30.00",
                            "C2,O3,2025-05-02,20.00"), store, credit_points=True)
    assert summary["purchases_added"] == 3 and summary["points_credited"] == 100
    member = ExternalId.objects.get(value="C1", store=store).member
    entries = list(member.entries.order_by("pk").values_list("kind", "points", "reference"))
    # The 2023 purchase's points were earned, then expired at once (past their validity).
    assert entries == [("earn", 30, "order:paris/O1"), ("expire", -30, entries[1][2]),
                       ("earn", 50, "order:paris/O2")]
    assert (member.balance, member.lifetime_earned) == (50, 80)
    assert [p.entry_id is not None for p in Purchase.objects.order_by("order_id")] == [True] * 3
    call_command("check_ledger")
    assert '"ok": true' in capsys.readouterr().out
    again = run(purchases("C1,O2,2025-05-01,50.00"), store, credit_points=True)
    assert (again["purchases_added"], again["already_present"]) == (0, 1)
    assert PointsEntry.objects.count() == 4


def test_credited_purchases_with_lines_keep_them(store, scale):
    run(purchases("C1,O1,2025-05-01,10.00,S1,,2", "C1,O1,2025-05-01,5.00,,,",
                  header="customer_ref,order_id,occurred_at,amount,sku,category,quantity"),
        store, credit_points=True)
    purchase = Purchase.objects.get()
    assert purchase.points_earned == 15 and purchase.items.get().unit_price == Decimal("5.00")


# --- scale -------------------------------------------------------------------------------------


def test_new_members_get_distinct_valid_card_numbers(store):
    run(purchases(*[f"C{n},O{n},2024-03-01,1.00" for n in range(1200)]), store)
    numbers = list(Member.objects.values_list("card_number", flat=True))
    assert len(numbers) == len(set(numbers)) == 1200
    assert all(is_valid_card_number(number) for number in numbers)
    assert set(Card.objects.values_list("number", flat=True)) == set(numbers)


def test_orders_spread_over_chunks_are_whole(store, monkeypatch):
    from loyalty.services.imports import purchases as module
    from loyalty.services.imports import purchases_orm

    monkeypatch.setattr(module, "CHUNK", 7)
    monkeypatch.setattr(purchases_orm, "CHUNK", 3)
    rows = [f"C{n % 11 % 5},O{n % 11},2024-03-{1 + n % 11:02d},1.00" for n in range(60)]
    summary = run(purchases(*rows), store)
    assert summary["orders"] == summary["purchases_added"] == 11
    assert sorted(Purchase.objects.values_list("amount", flat=True)) == sorted(
        Decimal(len([n for n in range(60) if n % 11 == k])) for k in range(11))


def test_the_database_path_is_the_one_expected(store):
    # A guard for the agreement between the two paths: the suite runs on both.
    from loyalty.services.imports import staging

    assert staging.is_postgres() == (connection.vendor == "postgresql")


def test_staging_tables_are_gone_afterwards(store):
    run(purchases("C1,O1,2024-03-01,1.00"), store)
    with pytest.raises(ImportRejected):
        run(purchases("C1,O1,2024-03-01,oops"), store)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname LIKE 'pg_temp%'")
        else:
            cursor.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'")
        assert [name for (name,) in cursor.fetchall() if name.startswith("import_")] == []


def test_the_ten_year_limit_follows_now(store):
    old = (NOW - timedelta(days=3649)).date().isoformat()
    assert run(purchases(f"C1,O1,{old},1.00"), store)["purchases_added"] == 1


def test_backslashes_and_quotes_are_kept_as_written(store):
    run(purchases('C\\1,O\\1,2024-03-01,4.00,,Jo,"Dupont \\ ""Fils""",A\\B,c\\d,2', header=FULL),
        store)
    purchase = Purchase.objects.get()
    assert purchase.order_id == "O\\1"
    assert purchase.member.last_name == 'Dupont \\ "Fils"'
    assert ExternalId.objects.get().value == "C\\1"
    item = purchase.items.get()
    assert (item.sku, item.category) == ("A\\B", "c\\d")
    assert purchase.fingerprint == content_fingerprint({"amount": Decimal("4.00"), "items": [
        {"sku": "A\\B", "category": "c\\d", "quantity": 2, "unit_price": Decimal("2.00")}]})
