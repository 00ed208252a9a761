"""RFM figures and scores: the definition, its properties, and both computing paths."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.models import MemberInsight, Programme
from loyalty.services.insight import rfm, stats
from loyalty.services.insight.clock import Clock
from tests.loyalty.services.insight.shop import (
    NOW,
    PARIS,
    buy,
    insight,
    member,
    members,
    purchase,
    rolled_back,
)

FIELDS = ("first_purchase_at", "last_purchase_at", "purchases", "historic_value", "recency_days",
          "frequency", "monetary", "r", "f", "m")


def refresh(now=NOW, path=None):
    stats.refresh(clock=Clock.at(now), programme=Programme.load(), path=path)


def stored() -> dict:
    return {row["member_id"]: row for row in MemberInsight.objects.values("member_id", *FIELDS)}


# --- The definition --------------------------------------------------------------------------


@pytest.mark.parametrize(("as_good", "population", "score"), [
    (1, 1, 1), (1, 5, 5), (2, 5, 4), (5, 5, 1), (1, 10, 5), (2, 10, 5), (3, 10, 4),
    (20, 100, 5), (21, 100, 4), (80, 100, 2), (81, 100, 1), (100, 100, 1)])
def test_a_score_is_six_less_the_ceiling_of_five_times_cume_dist(as_good, population, score):
    assert rfm.quintile_score(as_good=as_good, population=population) == score


def test_a_large_group_of_equal_values_takes_the_score_where_it_starts():
    # 600 bought once, 250 twice, 100 three times, 50 five times.
    counts = [1] * 600 + [2] * 250 + [3] * 100 + [5] * 50
    scores = rfm.scores(dict(enumerate(counts)), higher_is_better=True)
    by_value = {counts[key]: score for key, score in scores.items()}
    assert by_value == {1: 1, 2: 4, 3: 5, 5: 5}


def test_recency_is_scored_the_other_way_round():
    scores = rfm.scores({"today": 0, "week": 7, "month": 30, "year": 365, "older": 400},
                        higher_is_better=False)
    assert scores == {"today": 5, "week": 4, "month": 3, "year": 2, "older": 1}


values = st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=200)


@given(values, st.booleans())
def test_equal_values_get_equal_scores_and_better_never_scores_lower(raw, higher_is_better):
    scores = rfm.scores(dict(enumerate(raw)), higher_is_better=higher_is_better)
    assert set(scores.values()) <= {1, 2, 3, 4, 5}
    better = (lambda a, b: a > b) if higher_is_better else (lambda a, b: a < b)
    for i, a in enumerate(raw):
        for j, b in enumerate(raw):
            if a == b:
                assert scores[i] == scores[j]
            elif better(a, b):
                assert scores[i] >= scores[j]


@given(values, st.booleans())
def test_a_score_of_k_means_k_minus_one_fifths_do_strictly_worse(raw, higher_is_better):
    scores = rfm.scores(dict(enumerate(raw)), higher_is_better=higher_is_better)
    worst = min(raw) if higher_is_better else max(raw)
    for i, value in enumerate(raw):
        worse = sum(1 for other in raw if (other < value if higher_is_better else other > value))
        assert (scores[i] - 1) * len(raw) <= 5 * worse < scores[i] * len(raw)
        if value == worst:
            assert scores[i] == 1


def test_the_sql_expression_names_the_window_it_scores():
    expression = rfm.score_sql("frequency", higher_is_better=True, partition="in_window")
    assert "ORDER BY frequency DESC" in expression
    assert "PARTITION BY in_window" in expression


# --- The figures ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_members_without_a_purchase_get_a_row_and_no_score():
    nobody, customer = members(2)
    purchase(customer, days_ago=3)
    refresh()
    row = insight(nobody)
    assert (row.purchases, row.historic_value, row.recency_days, row.frequency) == (
        0, 0, None, None)
    assert (row.r, row.f, row.m, row.monetary, row.first_purchase_at) == (
        None, None, None, None, None)
    assert insight(customer).r is not None


@pytest.mark.django_db
def test_figures_count_net_spend_and_skip_purchases_refunded_in_full():
    customer = member()
    buy([(customer, NOW - timedelta(days=2), "100.00", "30.00"),
         (customer, NOW - timedelta(days=5), "50.00", "50.00"),   # returned: not a visit
         (customer, NOW - timedelta(days=20), "0.00"),             # free: still a visit
         (customer, NOW - timedelta(days=500), "40.00")])          # outside the window
    refresh()
    row = insight(customer)
    assert row.purchases == 3
    assert row.historic_value == Decimal("110.00")
    assert (row.frequency, row.monetary) == (2, Decimal("70.00"))
    assert row.recency_days == 2
    assert row.first_purchase_at == NOW - timedelta(days=500)
    assert row.last_purchase_at == NOW - timedelta(days=2)


@pytest.mark.django_db
def test_a_member_whose_only_purchase_was_returned_is_scored_as_having_none():
    customer = member()
    purchase(customer, days_ago=2, amount="80.00", refunded="80.00")
    refresh()
    row = insight(customer)
    assert (row.purchases, row.r, row.f, row.m, row.last_purchase_at) == (0, None, None, None,
                                                                            None)


@pytest.mark.django_db
def test_purchases_after_now_are_not_counted_yet():
    customer = member()
    purchase(customer, at=NOW + timedelta(minutes=5))
    refresh()
    assert insight(customer).purchases == 0


@pytest.mark.django_db
def test_days_are_counted_in_the_programme_time_zone():
    late, early = members(2)
    # 23:30 yesterday in Paris is 21:30 UTC; 00:10 today in Paris is 22:10 UTC yesterday.
    purchase(late, at=datetime(2025, 6, 14, 23, 30, tzinfo=PARIS))
    purchase(early, at=datetime(2025, 6, 15, 0, 10, tzinfo=PARIS))
    refresh(now=datetime(2025, 6, 15, 0, 20, tzinfo=PARIS))
    assert insight(late).recency_days == 1
    assert insight(early).recency_days == 0


@pytest.mark.django_db
def test_the_window_is_whole_local_days_ending_today():
    Programme.objects.filter(pk=Programme.load().pk).update(rfm_window_days=30)
    first_day = datetime(2025, 5, 17, 0, 0, tzinfo=PARIS)   # 30 days: May 17 .. June 15
    inside, outside = members(2)
    purchase(inside, at=first_day)
    purchase(outside, at=first_day - timedelta(microseconds=1))
    refresh()
    assert (insight(inside).frequency, insight(inside).recency_days) == (1, 29)
    assert (insight(outside).frequency, insight(outside).recency_days) == (0, 30)


@pytest.mark.django_db
def test_customers_with_purchases_only_before_the_window_get_the_lowest_f_and_m():
    old, *recent = members(6)
    purchase(old, days_ago=400, amount="5000.00")
    for count, customer in enumerate(recent, start=1):
        buy([(customer, NOW - timedelta(days=10 + i), "10.00") for i in range(count)])
    refresh()
    row = insight(old)
    assert (row.frequency, row.monetary, row.f, row.m) == (0, Decimal("0.00"), 1, 1)
    # It does not weigh on the quintiles of those who bought in the window.
    assert [insight(customer).f for customer in recent] == [1, 2, 3, 4, 5]
    assert row.r == 1


@pytest.mark.django_db
def test_thousands_of_equal_frequencies_all_get_the_same_f():
    crowd = members(2000)
    few = members(300)
    buy([(customer, NOW - timedelta(days=day), "20.00")
         for customer in crowd for day in (3, 30, 90)])
    buy([(customer, NOW - timedelta(days=4 + day), "20.00")
         for index, customer in enumerate(few) for day in range(1 + index % 6)])
    refresh()
    f_of_crowd = set(MemberInsight.objects.filter(member__in=crowd).values_list("f", flat=True))
    # 300 others: 50 each with 1..6 purchases; strictly fewer than 3: 100 of 2300.
    assert f_of_crowd == {1 + (5 * 100) // 2300}
    r_of_crowd = set(MemberInsight.objects.filter(member__in=crowd).values_list("r", flat=True))
    assert len(r_of_crowd) == 1


@pytest.mark.django_db
def test_a_refund_lowers_m_and_never_raises_it():
    customers = members(10)
    for index, customer in enumerate(customers):
        purchase(customer, days_ago=index + 1, amount=f"{10 * (index + 1)}.00")
    refresh()
    before = {customer.pk: insight(customer) for customer in customers}
    top = customers[-1]
    top.purchases.update(refunded_amount=Decimal("95.00"))
    refresh()
    assert insight(top).monetary == Decimal("5.00")
    assert insight(top).m < before[top.pk].m
    for customer in customers[:-1]:
        assert insight(customer).m >= before[customer.pk].m


# --- Properties on the database ---------------------------------------------------------------

histories = st.lists(st.lists(st.tuples(st.integers(min_value=0, max_value=700),
                                        st.integers(min_value=1, max_value=500)),
                              max_size=4), min_size=2, max_size=8)


def scored_shop(history) -> list:
    """One customer per history of (days ago, amount) purchases, bought and scored."""
    customers = members(len(history))
    buy([(customer, NOW - timedelta(days=day), f"{amount}.00")
         for customer, bought in zip(customers, history, strict=True)
         for day, amount in bought])
    refresh()
    return customers


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.integers(min_value=0, max_value=700))
def test_a_more_recent_purchase_never_lowers_r(history, days_ago):
    with rolled_back():
        customers = scored_shop(history)
        before = insight(customers[0]).r
        purchase(customers[0], days_ago=days_ago)
        refresh()
        after = insight(customers[0]).r
        if before is not None:
            assert after >= before
        last = [day for day, _amount in history[0]]
        if last and days_ago >= min(last):
            assert after == before  # not more recent: nothing changes


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories, st.integers(min_value=1, max_value=100))
def test_refunding_part_of_a_purchase_never_raises_m(history, percent):
    with rolled_back():
        customers = scored_shop(history)
        before = insight(customers[0])
        target = customers[0].purchases.order_by("-occurred_at").first()
        if target is None:
            return
        target.refunded_amount = (target.amount * percent / 100).quantize(Decimal("0.01"))
        target.save(update_fields=["refunded_amount"])
        refresh()
        after = insight(customers[0])
        assert after.historic_value <= before.historic_value
        if after.m is not None and before.m is not None:
            assert after.monetary <= before.monetary
            assert after.m <= before.m


@pytest.mark.django_db
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories)
def test_members_without_purchases_never_get_a_score(history):
    with rolled_back():
        customers = scored_shop(history)
        for customer, bought in zip(customers, history, strict=True):
            row = insight(customer)
            assert (row.r is None) == (not bought)
            assert (row.f is None) == (row.m is None) == (not bought)


# --- The two paths agree ----------------------------------------------------------------------


def varied_history(now=NOW):
    """Ties, refunds, purchases outside the window, late-evening ones, prospects."""
    customers = members(120)
    rows = []
    for index, customer in enumerate(customers[:100]):
        for visit in range(index % 7):
            at = now - timedelta(days=(index * 13 + visit * 37) % 800, hours=visit * 5)
            refunded = "0.00"
            if visit == 1 and index % 5 == 0:
                refunded = f"{10 + index % 3}.00"
            if visit == 2 and index % 9 == 0:
                refunded = f"{20 + index % 4}.00"  # in full
            rows.append((customer, at, f"{20 + index % 4}.00", refunded))
    rows.append((customers[100], now.replace(hour=23, minute=30) - timedelta(days=1), "12.00"))
    buy(rows)
    return customers


@pytest.mark.django_db
@pytest.mark.postgres
def test_the_sql_and_python_paths_write_the_same_figures_and_scores():
    varied_history()
    refresh(path="python")
    python = stored()
    MemberInsight.objects.all().delete()
    refresh(path="sql")
    assert stored() == python
    assert {row["r"] for row in python.values()} >= {1, 5}
    # And both update rows in place the same way.
    refresh(now=NOW + timedelta(days=40), path="sql")
    later_sql = stored()
    refresh(now=NOW + timedelta(days=40), path="python")
    assert stored() == later_sql


@pytest.mark.django_db
def test_the_python_path_matches_scores_computed_by_hand():
    a, b, c, d, e = members(5)
    buy([(a, NOW - timedelta(days=1), "100.00"), (a, NOW - timedelta(days=10), "100.00"),
         (b, NOW - timedelta(days=1), "50.00"),
         (c, NOW - timedelta(days=30), "50.00"), (c, NOW - timedelta(days=31), "10.00"),
         (d, NOW - timedelta(days=600), "900.00")])
    refresh()
    # R over a, b, c, d: recency 1, 1, 30, 600; as good: 2, 2, 3, 4 of 4.
    # F over a, b, c (d has none in the window): 2, 1, 2; as good: 2, 3, 2 of 3.
    # M over a, b, c: 200, 50, 60; as good: 1, 3, 2 of 3.
    assert [(row["r"], row["f"], row["m"]) for _pk, row in sorted(stored().items())] == [
        (3, 2, 4), (3, 1, 1), (2, 2, 2), (1, 1, 1), (None, None, None)]
    assert e.pk in stored()
