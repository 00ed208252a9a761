"""Lifetime value on the database: the customer aggregate, the fit, the scoring and its writes.

Every test here runs on SQLite and on PostgreSQL (DATABASE_URL): the two paths (bulk_update,
COPY + UPDATE ... FROM) must give the same values as the pure model on the same data.
"""

import zoneinfo
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty.models import ClvFit, Member, MemberInsight, Programme, Purchase
from loyalty.services.errors import Invalid
from loyalty.services.insight import clv, clv_model, run_insight, sql, stats
from loyalty.services.insight.clock import Clock
from tests.factories import make_member, programme
from tests.loyalty.services.insight import cdnow

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo(settings.TIME_ZONE)
NOW = datetime(1997, 10, 1, 8, tzinfo=PARIS)
CLV_VALUES = ["p_alive", "expected_purchases", "expected_spend", "predicted_value", "clv_at"]


def buy(member, store, when, amount, refunded="0"):
    count = Purchase.objects.count()
    return Purchase.objects.create(
        store=store, order_id=f"o{count}", member=member, amount=Decimal(amount),
        refunded_amount=Decimal(refunded), occurred_at=when, fingerprint=f"o{count}",
        created_at=when)


def paris(*args):
    return datetime(*args, tzinfo=PARIS)


def customer_rows(calibration_end):
    with transaction.atomic(), connection.cursor() as cursor:
        clv._create_customers_table(cursor, calibration_end)
        cursor.execute("SELECT member_id, x, t_x_days, T_days, repeat_spend FROM clv_customers")
        rows = {row[0]: (int(row[1]), int(row[2]), int(row[3]), Decimal(str(row[4])))
                for row in cursor.fetchall()}
        cursor.execute("DROP TABLE clv_customers")
    return rows


def stored(member_ids=None):
    rows = MemberInsight.objects.order_by("member_id")
    if member_ids is not None:
        rows = rows.filter(member_id__in=member_ids)
    return {row.member_id: tuple(getattr(row, name) for name in CLV_VALUES) for row in rows}


def test_customers_are_counted_by_purchase_day_net_of_refunds_up_to_the_end_day(store):
    end = date(2024, 3, 31)
    regular, single, refunded_only, late, free = (make_member() for _ in range(5))
    # Two purchases on one day are one purchase day; the partly refunded one counts net.
    buy(regular, store, paris(2024, 1, 1, 10), "10.00")
    buy(regular, store, paris(2024, 1, 1, 18), "5.00")
    buy(regular, store, paris(2024, 1, 8, 12), "20.00", refunded="5.00")
    buy(regular, store, paris(2024, 1, 15, 12), "30.00", refunded="30.00")  # all refunded
    buy(regular, store, paris(2024, 3, 31, 23, 30), "7.00")  # the end day, late in Paris
    buy(regular, store, paris(2024, 4, 1, 0, 30), "99.00")  # after the end (22:30 UTC before)
    buy(single, store, paris(2024, 3, 1, 12), "40.00")
    buy(refunded_only, store, paris(2024, 2, 1, 12), "12.00", refunded="12.00")
    buy(free, store, paris(2024, 3, 1, 12), "0.00")  # a free order is still a visit
    buy(late, store, paris(2024, 4, 2, 12), "12.00")
    rows = customer_rows(end)
    assert rows == {
        regular.pk: (2, 90, 90, Decimal("22.00")),  # days 1 Jan, 8 Jan, 31 Mar
        single.pk: (0, 0, 30, Decimal("0")),
        free.pk: (0, 0, 30, Decimal("0")),
    }


@pytest.fixture
def cdnow_members(store):
    return cdnow.load_into_db(store)


@pytest.fixture
def repeat_threshold():
    programme(clv_min_repeat_customers=200, clv_horizon_months=12,
              clv_monthly_discount=Decimal("0.0100"))


def expected_from_the_pure_model(fit, members):
    """The same predictions, from the file and numpy alone."""
    rows = cdnow.summary()
    x, t_x, T, m_x = rows.T
    bgnbd, gg = (fit.r, fit.alpha, fit.a, fit.b), (fit.p, fit.q, fit.v)
    purchases, spend, value = clv_model.predicted_value(
        bgnbd, gg, x, t_x, T, m_x, months=12, monthly_discount=0.01)
    alive = clv_model.p_alive(bgnbd, x, t_x, T)
    # summary() lists customers in the order of their first line: 1..2357.
    return {members[customer].pk: (alive[i], purchases[i], spend[i], value[i])
            for i, customer in enumerate(sorted(members))}


def test_cdnow_through_the_database_fits_the_paper_and_scores_like_the_pure_model(
        cdnow_members, repeat_threshold):
    fit = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)
    assert fit.status == ClvFit.Status.OK
    assert (fit.customers, fit.repeat_customers, fit.sample_size) == (2357, 946, 2357)
    for name, published in {**cdnow.PUBLISHED_BGNBD, **cdnow.PUBLISHED_GAMMA_GAMMA}.items():
        assert getattr(fit, name) == pytest.approx(published, rel=0.02), name
    assert fit.horizon_months == 12 and fit.monthly_discount == Decimal("0.0100")
    assert fit.members_scored == 2357  # rows created: none existed
    assert ClvFit.objects.get() == fit

    expected = expected_from_the_pure_model(fit, cdnow_members)
    values = stored()
    assert values.keys() == expected.keys()
    for member_id, (alive, purchases, spend, value) in expected.items():
        got = values[member_id]
        assert got[0] == pytest.approx(alive, rel=1e-9)
        assert got[1] == pytest.approx(purchases, rel=1e-9)
        assert abs(got[2] - Decimal(f"{spend:.2f}")) <= Decimal("0.01")
        assert abs(got[3] - Decimal(f"{value:.2f}")) <= Decimal("0.01")
        assert got[4] == NOW
    assert sum(v[3] for v in values.values()) > 0


def test_scoring_in_small_chunks_stores_the_same_values_as_in_one(cdnow_members,
                                                                  repeat_threshold):
    clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW, chunk_size=100_000)
    whole = stored()
    MemberInsight.objects.update(**dict.fromkeys(CLV_VALUES))
    fit = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW, chunk_size=97)
    assert fit.members_scored == 2357
    assert stored() == whole


def test_only_existing_rows_and_active_customers_get_values_others_are_cleared(
        cdnow_members, repeat_threshold, store):
    stale = {"p_alive": 0.5, "expected_purchases": 3.0, "expected_spend": Decimal("9.99"),
             "predicted_value": Decimal("99.99"), "clv_at": NOW}
    no_purchase = make_member()
    MemberInsight.objects.create(member=no_purchase, computed_at=NOW, **stale)
    joined_later = make_member()
    buy(joined_later, store, paris(1997, 10, 1, 9), "10.00")
    MemberInsight.objects.create(member=joined_later, computed_at=NOW, **stale)
    gone = cdnow_members[1]
    Member.objects.filter(pk=gone.pk).update(status=Member.Status.DELETED)

    fit = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)
    assert fit.members_scored == 2356  # every active customer; no row made for the deleted
    assert not MemberInsight.objects.filter(member=gone).exists()
    values = stored([no_purchase.pk, joined_later.pk])
    assert values == {no_purchase.pk: (None,) * 5, joined_later.pk: (None,) * 5}
    created = MemberInsight.objects.get(member=cdnow_members[2])
    assert created.computed_at == NOW and created.stage == "prospect"  # the nightly run's job


def test_insufficient_data_stores_no_prediction_and_clears_old_ones(store):
    programme(clv_min_repeat_customers=20)
    members = [make_member() for _ in range(30)]
    for i, member in enumerate(members):
        buy(member, store, paris(2024, 1, 1 + i % 28, 12), "10.00")
        if i < 19:  # 19 repeat customers, one short
            buy(member, store, paris(2024, 2, 1 + i % 28, 12), "15.00")
    MemberInsight.objects.create(member=members[0], computed_at=NOW, p_alive=0.9,
                                 predicted_value=Decimal("12.00"), clv_at=NOW)
    fit = clv.fit_and_score(calibration_end=date(2024, 3, 1), now=paris(2024, 3, 2, 8))
    assert fit.status == ClvFit.Status.INSUFFICIENT
    assert (fit.customers, fit.repeat_customers, fit.members_scored) == (30, 19, 0)
    assert (fit.r, fit.alpha, fit.a, fit.b, fit.p, fit.q, fit.v) == (None,) * 7
    assert stored() == {members[0].pk: (None,) * 5}
    assert MemberInsight.objects.count() == 1


def test_a_fit_that_does_not_converge_is_recorded_as_failed_with_no_prediction(
        cdnow_members, repeat_threshold, monkeypatch):
    clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)

    def diverge(*args, **kwargs):
        raise clv_model.FitError("Desired error not necessarily achieved")

    monkeypatch.setattr(clv_model, "fit_gamma_gamma", diverge)
    fit = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)
    assert fit.status == ClvFit.Status.FAILED
    assert (fit.r, fit.alpha, fit.a, fit.b, fit.p, fit.q, fit.v) == (None,) * 7
    assert fit.members_scored == 0
    assert set(stored().values()) == {(None,) * 5}


def test_a_failure_while_scoring_leaves_the_previous_values(cdnow_members, repeat_threshold,
                                                            monkeypatch):
    clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)
    before = stored()
    calls = []

    def fail_on_the_second_chunk(fit, rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return score(fit, rows)

    score = clv.score_customers
    monkeypatch.setattr(clv, "score_customers", fail_on_the_second_chunk)
    later = timezone.now()
    with pytest.raises(RuntimeError):
        clv.fit_and_score(calibration_end=date(1998, 6, 30), now=later, chunk_size=1000)
    assert stored() == before
    assert ClvFit.objects.count() == 1


def test_the_fit_reads_a_fixed_sample_of_customers(cdnow_members, repeat_threshold):
    first = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW, sample_size=1500)
    again = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW, sample_size=1500)
    assert (first.customers, first.sample_size, first.members_scored) == (2357, 1500, 2357)
    assert (first.r, first.alpha, first.a, first.b) == (again.r, again.alpha, again.a, again.b)
    full = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)
    assert first.r != full.r
    assert first.r == pytest.approx(full.r, rel=0.25)  # a sample, still the same population


def test_the_calibration_end_defaults_to_today_and_cannot_be_in_the_future(store):
    member = make_member()
    buy(member, store, paris(2024, 5, 1, 12), "10.00")
    now = paris(2024, 6, 1, 0, 30)  # 31 May, 22:30 UTC: already 1 June in Paris
    fit = clv.fit_and_score(now=now)
    assert fit.calibration_end == date(2024, 6, 1)
    with pytest.raises(Invalid):
        clv.fit_and_score(calibration_end=date(2024, 6, 2), now=now)


def test_value_grows_with_spend_through_the_whole_path(cdnow_members, repeat_threshold,
                                                       store):
    # Two repeat customers alike but for their spend: the bigger spender is worth more.
    small, big = make_member(), make_member()
    for member, amount in ((small, "10.00"), (big, "80.00")):
        for day in (3, 10, 24):
            buy(member, store, paris(1997, 9, day, 12), amount)
    fit = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW)
    small_row, big_row = (MemberInsight.objects.get(member=m) for m in (small, big))
    assert small_row.p_alive == big_row.p_alive
    assert small_row.expected_purchases == big_row.expected_purchases
    assert big_row.expected_spend > small_row.expected_spend
    assert big_row.predicted_value > small_row.predicted_value > 0
    # x = 2 repeat days, the last 3 weeks after the first, which was 27 days before the end.
    assert np.isclose(small_row.p_alive,
                      clv_model.p_alive((fit.r, fit.alpha, fit.a, fit.b), 2, 3, 27 / 7))


def test_clearing_nulls_every_value_of_members_without_purchase_by_an_anti_join(store):
    customer, *others = [make_member() for _ in range(6)]
    buy(customer, store, paris(2024, 5, 1, 12), "10.00")
    kept = {"p_alive": 0.5, "expected_purchases": 2.0, "expected_spend": Decimal("9.99"),
            "predicted_value": Decimal("19.99"), "clv_at": NOW}
    MemberInsight.objects.create(member=customer, computed_at=NOW, **kept)
    # Each member without a purchase holds a single stale value: each one is found.
    for member, (name, value) in zip(others, kept.items(), strict=True):
        MemberInsight.objects.create(member=member, computed_at=NOW, **{name: value})
    with transaction.atomic(), connection.cursor() as cursor:
        clv._create_scores_table(cursor)
        cursor.execute("INSERT INTO clv_scores (member_id) VALUES (%s)", [customer.pk])
        with CaptureQueriesContext(connection) as queries:
            clv._clear(only_without_purchase=True)
        cursor.execute("DROP TABLE clv_scores")
    [statement] = [query["sql"] for query in queries.captured_queries]
    assert "NOT EXISTS" in statement and "NOT IN" not in statement
    assert stored() == {customer.pk: tuple(kept.values()),
                        **{member.pk: (None,) * 5 for member in others}}


def test_without_create_missing_only_the_existing_rows_are_scored(cdnow_members,
                                                                   repeat_threshold):
    existing = [cdnow_members[1], cdnow_members[2]]
    for member in existing:
        MemberInsight.objects.create(member=member, computed_at=NOW)
    fit = clv.fit_and_score(calibration_end=cdnow.CALIBRATION_END, now=NOW,
                            create_missing=False)
    assert fit.status == ClvFit.Status.OK and fit.customers == 2357
    assert fit.members_scored == 2
    assert set(MemberInsight.objects.values_list("member_id", flat=True)) == {
        member.pk for member in existing}
    assert all(value is not None for values in stored().values() for value in values)


@pytest.mark.postgres
def test_the_fit_runs_with_more_work_mem_and_no_jit(store, monkeypatch):
    seen = []
    create = clv._create_customers_table

    def create_and_look(cursor, calibration_end):
        seen.append((sql.fetch_value("SHOW work_mem"), sql.fetch_value("SHOW jit")))
        return create(cursor, calibration_end)

    monkeypatch.setattr(clv, "_create_customers_table", create_and_look)
    # SET LOCAL: the test's own transaction keeps them until it ends, so only the
    # server's defaults before are checked.
    assert (sql.fetch_value("SHOW work_mem"), sql.fetch_value("SHOW jit")) != (
        sql.BATCH_WORK_MEM, "off")
    clv.fit_and_score(now=NOW)
    assert seen == [(sql.BATCH_WORK_MEM, "off")]


def test_the_insight_run_writes_the_same_values_with_its_refresh(cdnow_members,
                                                                 repeat_threshold, store):
    no_purchase = make_member()
    MemberInsight.objects.create(member=no_purchase, computed_at=NOW, p_alive=0.5, clv_at=NOW)
    today = timezone.localtime(NOW, PARIS).date()
    alone = clv.fit_and_score(calibration_end=today, now=NOW)
    expected = stored()
    MemberInsight.objects.update(**dict.fromkeys(CLV_VALUES))
    run = run_insight(now=NOW)
    fit = ClvFit.objects.latest("pk")
    assert run.summary["clv"] == fit.status == ClvFit.Status.OK
    assert fit.members_scored == alone.members_scored == 2357
    assert stored() == expected
    assert expected[no_purchase.pk] == (None,) * 5
    with connection.cursor() as cursor:  # the run left no temporary table behind
        cursor.execute("CREATE TEMPORARY TABLE clv_scores (member_id integer)")
        cursor.execute("DROP TABLE clv_scores")


@pytest.mark.postgres
def test_both_refresh_paths_write_the_same_lifetime_value(cdnow_members, repeat_threshold):

    results = {}
    for path in ("sql", "python"):
        MemberInsight.objects.all().delete()
        with transaction.atomic():
            fit = clv.fit_and_score(now=NOW, write=False)
            scored = stats.refresh(clock=Clock.at(NOW), programme=Programme.load(), path=path,
                                   with_scores=True)
            clv.written_with_scores(fit=fit, members=scored)
        results[path] = (scored, fit.members_scored, stored())
    assert results["sql"][:2] == (2357, 2357)
    assert results["sql"] == results["python"]
