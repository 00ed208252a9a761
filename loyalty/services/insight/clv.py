"""Customer lifetime value: fit BG/NBD + Gamma-Gamma on the purchase history, score members.

What a customer is, for the models (purchases up to the end of `calibration_end`, days
in the programme's time zone, settings.TIME_ZONE):
- a purchase counts with its net amount, amount - refunded_amount; a purchase refunded
  in full does not count at all (the customer did not keep it), while an order of 0
  never refunded (a free order) is a purchase of 0 (as the 0.00 lines of CDNOW are);
- purchases are counted per distinct day (FHL 2005): a day's purchases are one
  purchase whose spend is their sum; x = purchase days after the first one;
- t_x = days from the first to the last purchase day, T = days from the first purchase
  day to `calibration_end`, both in weeks (/7); m_x = mean spend of the x repeat days.

One aggregate (a temporary table, `clv_customers`) computes these for every customer
in one statement. The fit reads a fixed-size sample of it (SAMPLE_SIZE customers,
the first by a multiplicative hash of the member id: deterministic, spread over the
whole id range), so memory does not grow with the programme. Scoring streams the whole
table in chunks of `chunk_size` (a server-side cursor on PostgreSQL), computes the
predictions vectorised and puts them in a temporary table, `clv_scores` (by COPY on
PostgreSQL, executemany on SQLite), written to the insight rows by one UPDATE ... FROM
-- or, for the insight run, by its refresh's upsert, so that a row is written once a
run (`write=False`). All of it runs in one transaction: a failure leaves the previous
values.
"""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.db.models import DecimalField, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty.models import ClvFit, Member, MemberInsight, Programme, Purchase
from loyalty.services.errors import Invalid
from loyalty.services.insight import clv_model, sql

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 100_000
CHUNK_SIZE = 20_000
CLV_FIELDS = ["p_alive", "expected_purchases", "expected_spend", "predicted_value", "clv_at"]
# Knuth's multiplicative hash: a fixed pseudo-random order of member ids, the same on
# both databases (it stays below 2^63 for ids below 2^31).
SAMPLE_ORDER = "(member_id * 2654435761) %% 4294967296, member_id"  # %% for the params


def fit_and_score(*, calibration_end: date | None = None, now: datetime | None = None,
                  chunk_size: int = CHUNK_SIZE, sample_size: int = SAMPLE_SIZE,
                  create_missing: bool = True, write: bool = True) -> ClvFit:
    """Fit the lifetime value models on purchases up to `calibration_end` and score members.

    `calibration_end` defaults to today in the programme time zone, `now` to the current
    time. Stores and returns a ClvFit:
    - `ok`: every MemberInsight row of a customer (first purchase on or before
      `calibration_end`) gets p_alive, expected_purchases (over the programme's horizon),
      expected_spend (per purchase), predicted_value (discounted over the horizon) and
      clv_at = now; missing rows are created for active customers; members without a
      purchase get NULLs;
    - `insufficient_data` (fewer repeat customers than Programme.clv_min_repeat_customers)
      or `failed` (the optimiser did not converge): every member's CLV fields are NULL,
      never a made-up prediction.
    Raises Invalid if `calibration_end` is after today. The fit reads `sample_size`
    customers at most; scoring reads and writes `chunk_size` customers at a time.
    `create_missing=False` skips looking for customers without an insight row (the
    insight run passes it: its refresh has just written a row for every active member).
    `write=False` writes no MemberInsight row: the predictions are left in the temporary
    table `clv_scores` (member_id, p_alive, expected_purchases, expected_spend,
    predicted_value; empty unless the fit is ok) for the caller to write with its own
    statement (the insight run's refresh: each row written once), which then calls
    `written_with_scores`.
    """
    now = now or timezone.now()
    today = timezone.localtime(now, _zone()).date()
    calibration_end = calibration_end or today
    if calibration_end > today:
        raise Invalid(_("The calibration end cannot be in the future."),
                      fields={"calibration_end": calibration_end.isoformat()})
    programme = Programme.load()
    fit = ClvFit(fitted_at=now, calibration_end=calibration_end,
                 horizon_months=programme.clv_horizon_months,
                 monthly_discount=programme.clv_monthly_discount)
    with transaction.atomic(), connection.cursor() as cursor:
        sql.batch_settings()  # the `clv` command's own transaction too
        _create_customers_table(cursor, calibration_end)
        sample = _read_sample(cursor, fit, sample_size)
        if fit.repeat_customers < programme.clv_min_repeat_customers:
            fit.status = ClvFit.Status.INSUFFICIENT
        else:
            _fit(fit, sample)
        _create_scores_table(cursor)
        if fit.status == ClvFit.Status.OK:
            _score(cursor, fit, chunk_size)
        cursor.execute("DROP TABLE clv_customers")
        if write:
            if fit.status == ClvFit.Status.OK and create_missing:
                _create_missing_rows(now, chunk_size)
            fit.members_scored = _write_scores(now)
            _clear(only_without_purchase=fit.status == ClvFit.Status.OK)
            cursor.execute("DROP TABLE clv_scores")
        fit.save()
    logger.info("clv fit %s: %s", fit.pk, fit.status)
    return fit


def written_with_scores(*, fit: ClvFit, members: int) -> None:
    """After write=False: record how many members the caller wrote scores for; drop them."""
    sql.execute("DROP TABLE clv_scores")
    fit.members_scored = members
    fit.save(update_fields=["members_scored"])


def _zone():
    return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def _days_between(start: str, end: str) -> str:
    if connection.vendor == "postgresql":
        return f"({end} - {start})"
    return f"CAST(julianday({end}) - julianday({start}) AS INTEGER)"


def _create_customers_table(cursor, calibration_end: date) -> None:
    """clv_customers(member_id, x, t_x_days, T_days, repeat_spend): one aggregate statement."""
    cutoff = datetime.combine(calibration_end + timedelta(days=1), datetime.min.time(),
                              tzinfo=_zone())
    net = F("amount") - F("refunded_amount")
    # A sale without a member (an unclaimed receipt) is nobody's repeat purchase.
    days = (Purchase.objects.filter(occurred_at__lt=cutoff, member__isnull=False)
            .annotate(net=net).filter(Q(net__gt=0) | Q(refunded_amount=0))
            .annotate(day=TruncDate("occurred_at", tzinfo=_zone()))
            .values("member_id", "day")
            .annotate(spend=Sum("net", output_field=DecimalField()))
            .order_by())
    days_sql, params = days.query.sql_with_params()
    end = "CAST(%s AS DATE)" if connection.vendor == "postgresql" else "%s"
    cursor.execute("DROP TABLE IF EXISTS clv_customers")
    # Only our own fragments and Django's compiled query are formatted in; values are params.
    statement = f"""
        CREATE TEMPORARY TABLE clv_customers AS
        WITH days AS ({days_sql}),
        ranked AS (
            SELECT member_id, day, spend, MIN(day) OVER (PARTITION BY member_id) AS first_day
            FROM days
        )
        SELECT member_id,
               COUNT(*) - 1 AS x,
               {_days_between("MIN(day)", "MAX(day)")} AS t_x_days,
               {_days_between("MIN(day)", end)} AS T_days,
               COALESCE(SUM(CASE WHEN day > first_day THEN spend END), 0) AS repeat_spend
        FROM ranked GROUP BY member_id
    """  # noqa: S608
    cursor.execute(statement, [*params, calibration_end.isoformat()])


def _read_sample(cursor, fit: ClvFit, sample_size: int) -> np.ndarray:
    """The counts, and (x, t_x, T, m_x) of `sample_size` customers in a fixed order."""
    cursor.execute(f"""
        SELECT x, t_x_days, T_days, repeat_spend,
               COUNT(*) OVER (), SUM(CASE WHEN x > 0 THEN 1 ELSE 0 END) OVER ()
        FROM clv_customers ORDER BY {SAMPLE_ORDER} LIMIT %s
    """, [sample_size])  # noqa: S608 - a constant ORDER BY
    rows = cursor.fetchall()
    fit.customers, fit.repeat_customers = (int(rows[0][4]), int(rows[0][5])) if rows else (0, 0)
    fit.sample_size = len(rows)
    return _customers(np.array([row[:4] for row in rows], dtype=float).reshape(-1, 4))


def _customers(rows: np.ndarray) -> np.ndarray:
    """Rows (x, t_x days, T days, repeat spend) -> columns x, t_x, T (weeks), m_x."""
    x = rows[:, 0]
    m_x = np.divide(rows[:, 3], x, out=np.zeros(len(x)), where=x > 0)
    return np.column_stack([x, rows[:, 1] / 7, rows[:, 2] / 7, m_x])


def _fit(fit: ClvFit, sample: np.ndarray) -> None:
    # Identical customers once, with their count: the likelihood's cost follows the
    # number of distinct (x, t_x, T), not of customers.
    triples, weights = np.unique(sample[:, :3], axis=0, return_counts=True)
    repeat = sample[(sample[:, 0] > 0) & (sample[:, 3] > 0)]  # a mean spend of 0 has no log
    try:
        fit.r, fit.alpha, fit.a, fit.b = clv_model.fit_bgnbd(*triples.T, weights=weights)
        fit.p, fit.q, fit.v = clv_model.fit_gamma_gamma(repeat[:, 0], repeat[:, 3])
    except clv_model.FitError as error:
        logger.warning("clv fit failed: %s", error)
    else:
        if fit.q > 1:
            fit.status = ClvFit.Status.OK
            return
        # q <= 1: the expected spend per purchase is infinite, no usable model.
        logger.warning("clv fit failed: Gamma-Gamma q = %s <= 1", fit.q)
    fit.status = ClvFit.Status.FAILED
    fit.r = fit.alpha = fit.a = fit.b = fit.p = fit.q = fit.v = None


def _create_missing_rows(now: datetime, chunk_size: int) -> None:
    """An insight row for each active customer without one (the nightly run makes them)."""
    with connection.chunked_cursor() as missing:
        missing.execute("""
            SELECT c.member_id FROM clv_scores c
            JOIN loyalty_member m ON m.id = c.member_id
            LEFT JOIN loyalty_memberinsight i ON i.member_id = c.member_id
            WHERE m.status = %s AND i.member_id IS NULL
        """, [Member.Status.ACTIVE])
        while ids := missing.fetchmany(chunk_size):
            MemberInsight.objects.bulk_create(
                [MemberInsight(member_id=member_id, computed_at=now) for (member_id,) in ids],
                batch_size=1000, ignore_conflicts=True)


def _create_scores_table(cursor) -> None:
    cursor.execute("DROP TABLE IF EXISTS clv_scores")
    if connection.vendor == "postgresql":
        cursor.execute("""CREATE TEMPORARY TABLE clv_scores (
            member_id bigint PRIMARY KEY, p_alive double precision,
            expected_purchases double precision, expected_spend numeric(12, 2),
            predicted_value numeric(14, 2))""")
    else:
        cursor.execute("""CREATE TEMPORARY TABLE clv_scores (
            member_id integer PRIMARY KEY, p_alive real, expected_purchases real,
            expected_spend decimal, predicted_value decimal)""")


def _score(cursor, fit: ClvFit, chunk_size: int) -> None:
    """Predict for every customer, chunk by chunk, into clv_scores."""
    postgres = connection.vendor == "postgresql"
    with connection.chunked_cursor() as stream:
        stream.execute("SELECT member_id, x, t_x_days, T_days, repeat_spend "
                       "FROM clv_customers ORDER BY member_id")
        while rows := stream.fetchmany(chunk_size):
            ids = [row[0] for row in rows]
            scores = score_customers(fit, np.array([row[1:] for row in rows], dtype=float))
            if postgres:
                _copy_scores(cursor, ids, scores)
            else:
                cursor.executemany("INSERT INTO clv_scores VALUES (%s, %s, %s, %s, %s)",
                                   list(zip(ids, *_columns(scores), strict=True)))
    if postgres:
        cursor.execute("ANALYZE clv_scores")  # a temporary table has no statistics otherwise


def _write_scores(now: datetime) -> int:
    """clv_scores into the insight rows; returns how many rows were updated."""
    insight = sql.table(MemberInsight)
    return sql.execute(f"""
        UPDATE {insight} SET p_alive = s.p_alive,
            expected_purchases = s.expected_purchases, expected_spend = s.expected_spend,
            predicted_value = s.predicted_value, clv_at = %s
        FROM clv_scores s WHERE {insight}.member_id = s.member_id
    """, [now])  # noqa: S608


def score_customers(fit: ClvFit, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Predictions for rows (x, t_x days, T days, repeat spend) under a fitted ClvFit."""
    x, t_x, T, m_x = _customers(rows).T
    bgnbd, gamma_gamma = (fit.r, fit.alpha, fit.a, fit.b), (fit.p, fit.q, fit.v)
    purchases, spend, value = clv_model.predicted_value(
        bgnbd, gamma_gamma, x, t_x, T, m_x, months=fit.horizon_months,
        monthly_discount=float(fit.monthly_discount))
    return {"p_alive": clv_model.p_alive(bgnbd, x, t_x, T), "expected_purchases": purchases,
            "expected_spend": spend, "predicted_value": value}


def _money(values: np.ndarray) -> list[str | None]:
    """Amounts as text with two places (the same rounding on both databases)."""
    return [f"{value:.2f}" if np.isfinite(value) else None for value in values.tolist()]


def _floats(values: np.ndarray) -> list[float | None]:
    return [value if np.isfinite(value) else None for value in values.tolist()]


def _columns(scores):
    return (_floats(scores["p_alive"]), _floats(scores["expected_purchases"]),
            _money(scores["expected_spend"]), _money(scores["predicted_value"]))


def _copy_scores(cursor, ids: list[int], scores: dict[str, np.ndarray]) -> None:
    with cursor.copy("COPY clv_scores (member_id, p_alive, expected_purchases, "
                     "expected_spend, predicted_value) FROM STDIN") as copy:
        for row in zip(ids, *_columns(scores), strict=True):
            copy.write_row(row)


def _clear(*, only_without_purchase: bool) -> None:
    """NULL CLV fields: for members with no purchase in the calibration, or for everyone.

    Members without a purchase are found by an anti-join (NOT EXISTS), not NOT IN: a
    NOT IN over a subquery that does not fit in work_mem makes PostgreSQL compare each
    row with every customer id (minutes at a million members).
    """
    if not only_without_purchase:
        MemberInsight.objects.filter(
            Q(p_alive__isnull=False) | Q(expected_purchases__isnull=False)
            | Q(expected_spend__isnull=False) | Q(predicted_value__isnull=False)
            | Q(clv_at__isnull=False)).update(**dict.fromkeys(CLV_FIELDS))
        return
    insight = connection.ops.quote_name(MemberInsight._meta.db_table)
    assignments = ", ".join(f"{name} = NULL" for name in CLV_FIELDS)
    has_values = " OR ".join(f"{name} IS NOT NULL" for name in CLV_FIELDS)
    with connection.cursor() as cursor:
        # Only column and table names of our own are formatted in.
        cursor.execute(f"""
            UPDATE {insight} SET {assignments}
            WHERE ({has_values}) AND NOT EXISTS (
                SELECT 1 FROM clv_scores s WHERE s.member_id = {insight}.member_id)
        """)  # noqa: S608
