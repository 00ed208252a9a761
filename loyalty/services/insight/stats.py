"""Step one of the insight run: each active member's purchase figures and RFM scores.

What counts as a purchase: one made at or before the run's `now` and not refunded
in full. A purchase refunded in full is a return, not a visit: it counts in no
figure (not in the purchase count, frequency, first or last purchase) and adds
nothing to spend. A partly refunded one counts once, for its amount less what was
refunded; so a refund always lowers the monetary value and never raises it.

Per member (see `clock` for the days and windows, `rfm` for the scores):
- first / last purchase, `purchases` (all time), `historic_value` (net spend to date),
- `recency_days`: local days since the last purchase,
- `frequency` / `monetary`: purchases and net spend within the RFM window
  (Programme.rfm_window_days whole local days ending today), 0 for a customer
  whose purchases are all older,
- R, F, M as `rfm` defines them; all NULL for a member with no purchase.

Members no longer active (merged into another, or deleted) have no insight: their
rows are deleted and their open segment and stage periods closed, without a
webhook (their history lives on in the survivor, who holds their purchases).

On PostgreSQL this is one INSERT ... ON CONFLICT DO UPDATE over an aggregate of
the purchases with window functions for the scores. Elsewhere (SQLite, in
development) the same figures are computed in Python from one aggregate query and
written in batches; `refresh(path=...)` lets a test run both on one database.
"""

# ruff: noqa: S608 - SQL built from model table names and fixed fragments; values are parameters

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Min, Q, Sum

from loyalty.models import (
    Member,
    MemberInsight,
    Programme,
    Purchase,
    SegmentPeriod,
    Stage,
    StagePeriod,
)
from loyalty.services.insight import rfm, sql
from loyalty.services.insight.clock import Clock

ACTIVE = Member.Status.ACTIVE.value
# Written by this step; the stage, segment and value columns belong to the later steps.
COLUMNS = ("first_purchase_at", "last_purchase_at", "purchases", "historic_value",
           "recency_days", "frequency", "monetary", "r", "f", "m", "computed_at")
# With `with_scores`: the lifetime value, from the temporary table clv_scores.
CLV_COLUMNS = ("p_alive", "expected_purchases", "expected_spend", "predicted_value", "clv_at")


def drop_inactive(*, now) -> int:
    """Forget members merged or deleted since the last run; returns how many rows went."""
    # The few inactive members in a (analysed) temporary table: the planner then looks
    # them up in the open periods' index instead of guessing how many periods are open.
    select = f"SELECT id AS member_id FROM {sql.table(Member)} WHERE status <> %s"
    with sql.temp_table("insight_inactive", select, [ACTIVE]) as inactive:
        for period in (SegmentPeriod, StagePeriod):
            sql.execute(f"UPDATE {sql.table(period)} SET left_at = %s WHERE left_at IS NULL "
                        f"AND member_id IN (SELECT member_id FROM {inactive})", [now])
        return sql.execute(f"DELETE FROM {sql.table(MemberInsight)} "
                           f"WHERE member_id IN (SELECT member_id FROM {inactive})")


def refresh(*, clock: Clock, programme: Programme, path: str | None = None,
            with_scores: bool = False) -> int:
    """Write every active member's figures and scores ("sql" or "python"; default: by DB).

    `with_scores`: the same statement writes the lifetime value from the temporary
    table clv_scores (`clv.fit_and_score(write=False)`), clv_at = the run's now, NULLs
    for a member not in it; so that a run writes each row once. Returns how many
    members got a score (0 without `with_scores`).
    """
    path = path or ("sql" if sql.is_postgres() else "python")
    window_start = clock.window_start(programme.rfm_window_days)
    if path == "sql":
        return _refresh_sql(clock=clock, window_start=window_start, with_scores=with_scores)
    elif path == "python":
        return _refresh_python(clock=clock, window_start=window_start,
                               with_scores=with_scores)
    else:
        raise ValueError(f"unknown path {path!r}")


def _refresh_sql(*, clock: Clock, window_start, with_scores: bool) -> int:
    purchase, member, insight = sql.table(Purchase), sql.table(Member), sql.table(MemberInsight)
    r = rfm.score_sql("recency_days", higher_is_better=False)
    f = rfm.score_sql("frequency", higher_is_better=True, partition="in_window")
    m = rfm.score_sql("monetary", higher_is_better=True, partition="in_window")
    columns = COLUMNS + CLV_COLUMNS if with_scores else COLUMNS
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in columns)
    scores, score_values, score_params = "", "", []
    if with_scores:
        scores = "LEFT JOIN clv_scores cs ON cs.member_id = mb.id"
        score_values = (", cs.p_alive, cs.expected_purchases, cs.expected_spend, "
                        "cs.predicted_value, CASE WHEN cs.member_id IS NOT NULL "
                        "THEN %s::timestamptz END")
        score_params = [clock.now]
    statement = f"""
        WITH customer AS (
            SELECT p.member_id,
                   MIN(p.occurred_at) AS first_purchase_at,
                   MAX(p.occurred_at) AS last_purchase_at,
                   COUNT(*) AS purchases,
                   SUM(p.amount - p.refunded_amount) AS historic_value,
                   COUNT(*) FILTER (WHERE p.occurred_at >= %s) AS frequency,
                   COALESCE(SUM(p.amount - p.refunded_amount)
                            FILTER (WHERE p.occurred_at >= %s), 0) AS monetary
            FROM {purchase} p
            WHERE p.occurred_at <= %s
              AND (p.refunded_amount < p.amount OR p.refunded_amount = 0)
            GROUP BY p.member_id
        ), raw AS (
            SELECT c.*,
                   %s::date - (c.last_purchase_at AT TIME ZONE %s)::date AS recency_days,
                   c.frequency > 0 AS in_window
            FROM customer c JOIN {member} mb ON mb.id = c.member_id
            WHERE mb.status = %s
        ), scored AS (
            SELECT raw.*, {r} AS r,
                   CASE WHEN in_window THEN {f} ELSE 1 END AS f,
                   CASE WHEN in_window THEN {m} ELSE 1 END AS m
            FROM raw
        )
        INSERT INTO {insight} (member_id, {", ".join(columns)}, stage)
        SELECT mb.id, s.first_purchase_at, s.last_purchase_at, COALESCE(s.purchases, 0),
               COALESCE(s.historic_value, 0), s.recency_days, s.frequency, s.monetary,
               s.r, s.f, s.m, %s{score_values}, %s
        FROM {member} mb LEFT JOIN scored s ON s.member_id = mb.id {scores}
        WHERE mb.status = %s
        ON CONFLICT (member_id) DO UPDATE SET {updates}
    """
    sql.execute(statement, [window_start, window_start, clock.now, clock.today, clock.tz_name,
                            ACTIVE, clock.now, *score_params, Stage.PROSPECT.value,
                            ACTIVE])
    if not with_scores:
        return 0
    return sql.fetch_value(f"SELECT COUNT(*) FROM clv_scores cs JOIN {member} mb "
                           "ON mb.id = cs.member_id WHERE mb.status = %s", [ACTIVE])


def customer_figures(*, clock: Clock, window_start) -> dict[int, dict]:
    """The raw figures of each active customer, by member id (the Python path's input)."""
    net = ExpressionWrapper(F("amount") - F("refunded_amount"),
                            output_field=DecimalField(max_digits=14, decimal_places=2))
    in_window = Q(occurred_at__gte=window_start)
    rows = (Purchase.objects
            .filter(Q(refunded_amount__lt=F("amount")) | Q(refunded_amount=0),
                    occurred_at__lte=clock.now, member__status=ACTIVE)
            .values("member_id")
            .annotate(first_purchase_at=Min("occurred_at"), last_purchase_at=Max("occurred_at"),
                      purchases=Count("id"), historic_value=Sum(net),
                      frequency=Count("id", filter=in_window),
                      monetary=Sum(net, filter=in_window))
            .order_by())
    figures = {}
    for row in rows:
        row["monetary"] = row["monetary"] or Decimal("0.00")
        row["recency_days"] = clock.days_since(row["last_purchase_at"])
        figures[row.pop("member_id")] = row
    return figures


def _refresh_python(*, clock: Clock, window_start, with_scores: bool) -> int:
    figures = customer_figures(clock=clock, window_start=window_start)
    scores = {}
    if with_scores:
        scores = {row[0]: [*row[1:], clock.now] for row in sql.fetch_all(
            "SELECT member_id, p_alive, expected_purchases, expected_spend, predicted_value "
            "FROM clv_scores")}
    no_score = [None] * len(CLV_COLUMNS) if with_scores else []
    r = rfm.scores({pk: row["recency_days"] for pk, row in figures.items()},
                   higher_is_better=False)
    bought = {pk: row for pk, row in figures.items() if row["frequency"] > 0}
    f = rfm.scores({pk: row["frequency"] for pk, row in bought.items()}, higher_is_better=True)
    m = rfm.scores({pk: row["monetary"] for pk, row in bought.items()}, higher_is_better=True)
    rows = []
    for pk in Member.objects.filter(status=ACTIVE).values_list("pk", flat=True).order_by("pk"):
        row = figures.get(pk)
        if row is None:
            values = [None, None, 0, Decimal("0.00"), None, None, None, None, None, None]
        else:
            values = [*(row[column] for column in COLUMNS[:7]), r[pk], f.get(pk, 1),
                      m.get(pk, 1)]
        rows.append([sql.param(value) for value in (
            pk, *values, clock.now, *scores.get(pk, no_score), Stage.PROSPECT.value)])
    _upsert(rows, COLUMNS + CLV_COLUMNS if with_scores else COLUMNS)
    return sum(1 for row in rows if row[0] in scores)


def _upsert(rows: list[list], columns: tuple[str, ...]) -> None:
    """One statement for all the rows (executemany): SQLite has no round trips to save."""
    insight = sql.table(MemberInsight)
    updates = ", ".join(f"{column} = excluded.{column}" for column in columns)
    placeholders = ", ".join(["%s"] * (len(columns) + 2))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {insight} (member_id, {', '.join(columns)}, stage) "
            f"VALUES ({placeholders}) ON CONFLICT (member_id) DO UPDATE SET {updates}", rows)
