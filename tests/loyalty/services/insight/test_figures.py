"""The insight page's figures: what each one counts, read from rows made directly."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.utils import timezone

from loyalty.models import ClvFit, Member, PointsEntry, Segment
from loyalty.services.insight import figures
from tests.factories import (
    ClvFitFactory,
    InsightRunFactory,
    InsightSnapshotFactory,
    MemberInsightFactory,
    make_member,
    programme,
)

pytestmark = pytest.mark.django_db
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2025, 6, 15, 12, 0, tzinfo=PARIS)
Kind = PointsEntry.Kind


def entry(member, kind, points, at):
    return PointsEntry.objects.create(member=member, kind=kind, points=points, balance_after=0,
                                      created_at=at)


def insight(**fields):
    fields.setdefault("member", make_member())
    return MemberInsightFactory(**fields)


def test_the_liability_counts_spendable_and_pending_points_of_active_members_only():
    programme(point_value=Decimal("0.0250"), currency="EUR")
    Member.objects.filter(pk=make_member().pk).update(balance=1000, pending=200)
    Member.objects.filter(pk=make_member().pk).update(balance=-50, pending=0)  # owes: no credit
    Member.objects.filter(pk=make_member().pk).update(balance=300, status=Member.Status.MERGED)
    liability = figures.points_liability(programme=programme())
    assert (liability.spendable, liability.pending, liability.points) == (1000, 200, 1200)
    assert liability.value == Decimal("30.00")
    assert liability.members == 2


def test_points_per_month_sort_entries_into_issued_redeemed_expired_and_taken_back():
    member = make_member()
    may, june = datetime(2025, 5, 10, tzinfo=PARIS), datetime(2025, 6, 1, 0, 30, tzinfo=PARIS)
    entry(member, Kind.EARN, 100, may)
    entry(member, Kind.MIGRATION, 500, may)
    entry(member, Kind.ADJUST, 20, may)
    entry(member, Kind.ADJUST, -5, may)
    entry(member, Kind.REFUND, -10, may)
    entry(member, Kind.REDEEM, -300, june)  # just after midnight in Paris: June, not May
    entry(member, Kind.CANCEL, 100, june)
    entry(member, Kind.EXPIRE, -200, june)
    entry(member, Kind.MERGE, 999, june)  # a transfer between members: not issued
    months = figures.points_by_month(months=3, now=NOW)
    assert [row.month for row in months] == [date(2025, 4, 1), date(2025, 5, 1), date(2025, 6, 1)]
    april, may_row, june_row = months
    assert (april.issued, april.redeemed, april.expired, april.breakage) == (0, 0, 0, None)
    assert (may_row.issued, may_row.taken_back, may_row.redeemed) == (620, 15, 0)
    assert (june_row.issued, june_row.redeemed, june_row.expired) == (0, 200, 200)
    assert june_row.breakage == Decimal("50.0")  # 200 expired of 200 + 200 settled


def test_the_breakage_rate_over_months_is_expired_over_expired_and_redeemed():
    rows = [figures.PointsMonth(month=date(2025, 1, 1), redeemed=300, expired=100),
            figures.PointsMonth(month=date(2025, 2, 1), redeemed=0, expired=100)]
    assert figures.breakage_over(rows) == Decimal("40.0")
    assert figures.breakage_over([figures.PointsMonth(month=date(2025, 1, 1))]) is None


def test_points_older_than_the_months_shown_are_left_out():
    member = make_member()
    entry(member, Kind.EARN, 100, datetime(2023, 1, 1, tzinfo=PARIS))
    assert sum(row.issued for row in figures.points_by_month(months=24, now=NOW)) == 0


def test_active_members_bought_within_the_window_and_repeat_customers_twice_or_more():
    programme(rfm_window_days=365)
    insight(purchases=1, recency_days=10)
    insight(purchases=4, recency_days=365)
    insight(purchases=2, recency_days=400)
    insight(purchases=0, recency_days=None, r=None, f=None, m=None, frequency=None,
            monetary=None, stage="prospect")
    merged = make_member()
    insight(member=merged, purchases=5, recency_days=1)
    Member.objects.filter(pk=merged.pk).update(status=Member.Status.MERGED)
    activity = figures.activity(programme=programme())
    assert (activity.scored, activity.customers, activity.active) == (4, 3, 2)
    assert activity.repeat_customers == 2
    assert activity.repeat_rate == Decimal("66.7")


def test_the_rfm_grid_counts_each_cell_and_shades_it_by_average_spend():
    insight(r=5, f=5, m=5, monetary=Decimal("500.00"))
    insight(r=5, f=5, m=5, monetary=Decimal("300.00"))
    insight(r=1, f=1, m=1, monetary=Decimal("10.00"))
    insight(r=None, f=None, m=None, recency_days=None, frequency=None, monetary=None)
    grid = figures.rfm_grid()
    assert len(grid.rows) == 5 and all(len(row) == 5 for row in grid.rows)
    top_right = grid.rows[0][4]
    assert (top_right.r, top_right.f, top_right.members) == (5, 5, 2)
    assert top_right.average_spend == Decimal("400.00") and top_right.shade == 5
    bottom_left = grid.rows[4][0]
    assert (bottom_left.r, bottom_left.f, bottom_left.members, bottom_left.shade) == (1, 1, 1, 1)
    empty = grid.rows[2][2]
    assert (empty.members, empty.average_spend, empty.shade) == (0, None, 0)
    assert grid.scored == 3


def test_segment_sizes_compare_with_the_latest_snapshot_before_this_month():
    champions = Segment.objects.get(code="champions")
    lost = Segment.objects.get(code="lost")
    for _ in range(3):
        insight(segment=champions)
    insight(segment=lost)
    insight(segment=None, r=None, f=None, m=None, stage="prospect")
    InsightSnapshotFactory(month=date(2025, 4, 1), segment_code="champions", members=9)
    InsightSnapshotFactory(month=date(2025, 5, 1), segment_code="champions", stage="active",
                           members=1)
    InsightSnapshotFactory(month=date(2025, 5, 1), segment_code="champions", stage="loyal",
                           members=1)
    InsightSnapshotFactory(month=date(2025, 5, 1), segment_code="lost", members=4)
    InsightSnapshotFactory(month=date(2025, 6, 1), segment_code="champions", members=50)
    sizes = figures.segment_sizes(now=NOW)
    assert sizes.baseline == date(2025, 5, 1)
    by_code = {size.code: size for size in sizes.segments}
    assert (by_code["champions"].members, by_code["champions"].previous) == (3, 2)
    assert by_code["champions"].change == 1
    assert (by_code["lost"].change, by_code["lost"].change_size) == (-3, 3)
    assert by_code["loyal"].change == 0
    assert sizes.unsegmented == 1 and sizes.total == 5
    assert sizes.segments[0].code == "champions"  # the largest first


def test_segment_sizes_without_an_earlier_snapshot_have_no_change():
    insight(segment=Segment.objects.get(code="loyal"))
    sizes = figures.segment_sizes(now=NOW)
    assert sizes.baseline is None
    assert all(size.change is None for size in sizes.segments)


def test_no_distribution_of_predicted_value_without_a_usable_fit():
    insight(predicted_value=Decimal("100.00"))
    value = figures.value_distribution(programme=programme())
    assert not value.available and value.fit is None and value.buckets == []
    ClvFitFactory(status=ClvFit.Status.INSUFFICIENT, customers=80, repeat_customers=12)
    value = figures.value_distribution(programme=programme(clv_min_repeat_customers=200))
    assert not value.available and value.buckets == []
    assert (value.fit.repeat_customers, value.fit.customers, value.needed) == (12, 80, 200)


def test_the_distribution_of_predicted_value_counts_each_band_once():
    ClvFitFactory()
    for amount in ("0.00", "4.99", "5.00", "18.00", "20.00", "1234.56"):
        insight(predicted_value=Decimal(amount))
    insight(predicted_value=None)
    value = figures.value_distribution(programme=programme())
    assert value.available and value.members == 6
    assert value.total == Decimal("1282.55")
    assert sum(bucket.members for bucket in value.buckets) == 6
    assert value.buckets[0].low == 0 and value.buckets[-1].high == 2000
    counts = {(bucket.low, bucket.high): bucket.members for bucket in value.buckets}
    assert [edge for edge in counts] == [  # at most ten bands: 0 to 1 merges into 0 to 2
        (Decimal(low), Decimal(high)) for low, high in (
            (0, 2), (2, 5), (5, 10), (10, 20), (20, 50), (50, 100), (100, 200), (200, 500),
            (500, 1000), (1000, 2000))]
    assert counts[(Decimal(0), Decimal(2))] == 1
    assert counts[(Decimal(2), Decimal(5))] == 1  # 4.99
    assert counts[(Decimal(5), Decimal(10))] == 1  # 5.00: a band's low edge is in it
    assert counts[(Decimal(10), Decimal(20))] == 1
    assert counts[(Decimal(20), Decimal(50))] == 1
    assert counts[(Decimal(1000), Decimal(2000))] == 1


@pytest.mark.parametrize("top,edges", [
    (Decimal("0"), [0, 1]),
    (Decimal("1"), [0, 1]),
    (Decimal("7"), [0, 1, 2, 5, 10]),
    (Decimal("50000"), [0, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]),
    (Decimal("50000.01"), [0, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]),
])
def test_value_bands_step_one_two_five_up_to_the_top(top, edges):
    assert figures.value_edges(top) == [Decimal(edge) for edge in edges]


def test_members_to_call_are_at_risk_or_lapsed_by_predicted_then_historic_value():
    low = insight(stage="at_risk", predicted_value=Decimal("10.00"),
                  historic_value=Decimal("900.00"))
    high = insight(stage="lapsed", predicted_value=Decimal("500.00"))
    unknown = insight(stage="at_risk", predicted_value=None, historic_value=Decimal("5000.00"))
    insight(stage="active", predicted_value=Decimal("9999.00"))
    assert [row.member_id for row in figures.members_to_call(by_prediction=True)] == [
        high.member_id, low.member_id, unknown.member_id]
    assert [row.member_id for row in figures.members_to_call(by_prediction=False)] == [
        unknown.member_id, low.member_id, high.member_id]
    assert len(figures.members_to_call(by_prediction=True, limit=2)) == 2


def test_the_latest_finished_run_tells_when_the_figures_were_computed():
    assert figures.latest_run() is None
    with time_machine.travel(NOW, tick=False):
        done = InsightRunFactory()
        InsightRunFactory(started_at=timezone.now(), finished_at=None)  # still running
    assert figures.latest_run() == done


def test_member_lists_filter_by_cell_segment_and_stage():
    loyal = Segment.objects.get(code="loyal")
    a = insight(r=4, f=5, segment=loyal, stage="loyal")
    b = insight(r=4, f=5, segment=None, stage="at_risk")
    insight(r=3, f=5, segment=loyal)
    assert {row.member_id for row in figures.insight_members(r=4, f=5)} == {a.member_id,
                                                                            b.member_id}
    assert [row.member_id for row in figures.insight_members(r=4, f=5, segment=loyal)] == [
        a.member_id]
    assert [row.member_id for row in figures.insight_members(stage="at_risk")] == [b.member_id]


def test_the_overview_takes_a_fixed_number_of_queries():
    ClvFitFactory()
    InsightRunFactory()
    settings = programme()

    def measure():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            figures.overview(programme=settings, now=NOW)
        return len(captured)

    for _ in range(3):
        insight(stage="at_risk", predicted_value=Decimal("10.00"))
    few = measure()
    for _ in range(30):
        insight(stage="at_risk", predicted_value=Decimal("10.00"),
                segment=Segment.objects.get(code="at_risk"))
    assert measure() == few <= 14
