"""The insight run as a whole: its summary, snapshot, lock, query count, and the task."""

from datetime import date, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from loyalty.models import (
    InsightRun,
    InsightSnapshot,
    Member,
    MemberInsight,
    Segment,
    SegmentPeriod,
    Stage,
    StagePeriod,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from loyalty.services.insight import InsightRunning, clv, run, run_insight, sql, stats
from loyalty.tasks import compute_insight
from tests.factories import UserFactory
from tests.loyalty.services.insight.shop import (
    NOW,
    buy,
    members,
    purchase,
    rolled_back,
    shop,
)

pytestmark = pytest.mark.django_db


def at(moment, **kwargs):
    with time_machine.travel(moment, tick=False):
        return run_insight(with_clv=False, **kwargs)


def history(count: int):
    customers = members(count)
    buy([(customer, NOW - timedelta(days=(7 * index + 31 * visit) % 700), "15.00")
         for index, customer in enumerate(customers) for visit in range(index % 5)])
    return customers


def test_a_run_records_what_it_found():
    customers = history(12)
    user = UserFactory()
    result = at(NOW, by=user)
    saved = InsightRun.objects.get()
    assert saved == result and saved.triggered_by == user
    assert saved.started_at <= saved.finished_at
    summary = saved.summary
    assert summary["members"] == saved.members == len(customers) == MemberInsight.objects.count()
    assert set(summary["segments"]) == set(Segment.objects.values_list("code", flat=True))
    assert sum(summary["segments"].values()) == MemberInsight.objects.filter(
        segment__isnull=False).count()
    assert set(summary["stages"]) == set(Stage.values)
    assert summary["stages"]["prospect"] == sum(1 for i in range(12) if i % 5 == 0)


def test_the_first_run_of_a_month_writes_its_snapshot_and_later_runs_do_not():
    customers = history(20)
    at(NOW)
    june = list(InsightSnapshot.objects.values_list("segment_code", "stage", "r", "f", "members"))
    assert {row[:2] for row in june} >= {("", "prospect")}
    assert sum(row[4] for row in june) == 20
    assert set(InsightSnapshot.objects.values_list("month", flat=True)) == {date(2025, 6, 1)}
    purchase(customers[0], at=NOW + timedelta(days=2))
    at(NOW + timedelta(days=3))
    assert sorted(InsightSnapshot.objects.values_list(
        "segment_code", "stage", "r", "f", "members")) == sorted(june)
    at(NOW + timedelta(days=16))  # July 1st
    assert set(InsightSnapshot.objects.values_list("month", flat=True)) == {
        date(2025, 6, 1), date(2025, 7, 1)}


def test_members_merged_or_deleted_leave_the_insight_tables_quietly():
    WebhookEndpoint.objects.create(store=shop(), url="https://shop.example/hooks",
                                   events=[WebhookEvent.MEMBER_STAGE_CHANGED,
                                           WebhookEvent.MEMBER_SEGMENT_CHANGED])
    kept, merged = members(2)
    purchase(kept, days_ago=3)
    purchase(merged, days_ago=3)
    at(NOW)
    Member.objects.filter(pk=merged.pk).update(status=Member.Status.MERGED, merged_into=kept)
    result = at(NOW + timedelta(hours=1))
    assert list(MemberInsight.objects.values_list("member_id", flat=True)) == [kept.pk]
    assert result.members == 1
    assert not StagePeriod.objects.filter(member=merged, left_at=None).exists()
    assert not SegmentPeriod.objects.filter(member=merged, left_at=None).exists()
    assert StagePeriod.objects.get(member=merged).left_at == NOW + timedelta(hours=1)
    assert not WebhookDelivery.objects.exists()


def queries_for_a_first_run(count: int) -> int:
    cache.clear()  # the configuration cache (webhook endpoints) starts empty each time
    with rolled_back():
        history(count)
        with CaptureQueriesContext(connection) as captured:
            at(NOW)
        assert MemberInsight.objects.count() == count
        return len(captured)


def queries_for_a_later_run(count: int) -> int:
    cache.clear()
    with rolled_back():
        customers = history(count)
        at(NOW)
        for customer in customers[::3]:
            purchase(customer, at=NOW + timedelta(days=1))
        with CaptureQueriesContext(connection) as captured:
            at(NOW + timedelta(days=100))
        assert StagePeriod.objects.filter(entered_at=NOW + timedelta(days=100)).count() > count / 3
        return len(captured)


def test_the_number_of_queries_does_not_grow_with_the_members():
    first = queries_for_a_first_run(10)
    assert first == queries_for_a_first_run(100)
    later = queries_for_a_later_run(10)
    assert later == queries_for_a_later_run(100)
    assert max(first, later) <= 45


def test_the_number_of_queries_does_not_grow_with_the_changes_announced():
    WebhookEndpoint.objects.create(store=shop(), url="https://shop.example/hooks",
                                   events=[WebhookEvent.MEMBER_STAGE_CHANGED,
                                           WebhookEvent.MEMBER_SEGMENT_CHANGED])
    small, large = queries_for_a_later_run(10), queries_for_a_later_run(100)
    if connection.vendor == "sqlite":
        # SQLite takes 999 parameters a statement: the deliveries' INSERT is split in two.
        assert large in (small, small + 1)
    else:
        assert small == large


def test_the_lifetime_value_step_runs_with_the_same_now_and_leaves_the_writing(monkeypatch):
    calls = []
    monkeypatch.setattr(clv, "fit_and_score", lambda **kwargs: calls.append(kwargs))
    history(3)
    run_insight(now=NOW)
    # The refresh writes the scores with the figures.
    assert calls == [{"now": NOW, "write": False}]
    run_insight(now=NOW, with_clv=False)
    assert len(calls) == 1


@pytest.mark.postgres
def test_a_second_run_while_one_is_running_fails_at_once():
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [run.LOCK_KEY])
        with pytest.raises(InsightRunning) as raised:
            run_insight(now=NOW, with_clv=False)
        assert raised.value.code == "insight_running"
        assert compute_insight.apply().get() is None
        assert not InsightRun.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [run.LOCK_KEY])
        assert run_insight(now=NOW, with_clv=False).members == 0
    finally:
        other.close()


def test_the_nightly_task_runs_the_insight_for_whoever_asked(monkeypatch):
    monkeypatch.setattr(clv, "fit_and_score", lambda **kwargs: None)
    history(4)
    user = UserFactory()
    assert compute_insight.apply(kwargs={"triggered_by_id": user.pk}).get() == 4
    assert InsightRun.objects.get().triggered_by == user
    assert compute_insight.apply().get() == 4
    assert InsightRun.objects.count() == 2


@pytest.mark.postgres
def test_the_run_has_more_work_mem_and_no_jit(monkeypatch):
    seen = []
    refresh = stats.refresh

    def refresh_and_look(**kwargs):
        seen.append((sql.fetch_value("SHOW work_mem"), sql.fetch_value("SHOW jit")))
        return refresh(**kwargs)

    monkeypatch.setattr(stats, "refresh", refresh_and_look)
    # SET LOCAL: the test's own transaction keeps them until it ends, so only the
    # server's defaults before are checked.
    assert (sql.fetch_value("SHOW work_mem"), sql.fetch_value("SHOW jit")) != (
        sql.BATCH_WORK_MEM, "off")
    run_insight(now=NOW, with_clv=False)
    assert seen == [(sql.BATCH_WORK_MEM, "off")]
