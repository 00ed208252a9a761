"""The monthly snapshot of the insight tables, and the counts a run reports.

The first run of a calendar month (local time) counts the members of each
(segment, stage, R, F) cell into InsightSnapshot rows dated the first of that
month: the state the month started with, for the trend charts and "how the
segments moved since last month". Later runs that month write nothing (the
statement checks for the month's rows; the unique constraint backs it up).
"""

# ruff: noqa: S608 - SQL built from model table names and fixed fragments; values are parameters

from __future__ import annotations

from django.db.models import Count

from loyalty.models import InsightSnapshot, MemberInsight, Segment, Stage
from loyalty.services.insight import sql
from loyalty.services.insight.clock import Clock


def take_monthly(*, clock: Clock) -> int:
    """Write this month's snapshot unless it exists; returns the rows written."""
    snapshot, insight = sql.table(InsightSnapshot), sql.table(MemberInsight)
    return sql.execute(f"""
        INSERT INTO {snapshot}
            (month, segment_code, stage, r, f, members, monetary, predicted_value)
        SELECT %s, COALESCE(s.code, ''), i.stage, COALESCE(i.r, 0), COALESCE(i.f, 0),
               COUNT(*), COALESCE(SUM(i.monetary), 0), COALESCE(SUM(i.predicted_value), 0)
        FROM {insight} i LEFT JOIN {sql.table(Segment)} s ON s.id = i.segment_id
        WHERE NOT EXISTS (SELECT 1 FROM {snapshot} WHERE month = %s)
        GROUP BY COALESCE(s.code, ''), i.stage, COALESCE(i.r, 0), COALESCE(i.f, 0)
        ON CONFLICT (month, segment_code, stage, r, f) DO NOTHING""",
                       [clock.month, clock.month])


def summarise() -> dict:
    """{"members": N, "segments": {code: count}, "stages": {stage: count}} as stored now.

    Every active segment and every stage is listed, with 0 when empty; members in no
    segment are in no segment's count.
    """
    segments = dict.fromkeys(Segment.objects.filter(active=True).order_by("code")
                             .values_list("code", flat=True), 0)
    stages = dict.fromkeys(Stage.values, 0)
    for code, stage, count in (MemberInsight.objects.values_list("segment__code", "stage")
                               .annotate(n=Count("pk")).order_by()):
        if code is not None:
            segments[code] = segments.get(code, 0) + count
        stages[stage] = stages.get(stage, 0) + count
    return {"members": sum(stages.values()), "segments": segments, "stages": stages}
