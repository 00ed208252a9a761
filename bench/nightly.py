"""Scale benchmark of the nightly points and tier jobs: `make bench-nightly` (or `--help`).

`bench/scale.py` runs it after its own part (`make bench`). It works on a throwaway
PostgreSQL database (a new one on the server that DATABASE_URL or --database-url
names, else 127.0.0.1:5432 as postgres; dropped at the end unless --keep), migrated,
and for each size (default 100,000 then 1,000,000 members, 10 purchases a member):

  1. builds the ledger with set-based SQL (generate_series, random() after setseed):
     the members and purchases of bench/insight.py's plan, each purchase with its
     earn entry and its lot (1 point a euro, 14 days pending, a year of validity);
     35 % of the released lots were spent (a redeem entry), the rest of those past
     their year expired (an expire entry), every running total exact: about 17
     entries a member. Each member's tier is the one its window supports, except one
     member in 97 whose tier is off by one (a change the re-evaluation must make).
     Secondary indexes and foreign keys are dropped for the load and rebuilt after,
     then VACUUM ANALYZE;
  2. one day later (when lots become spendable and others expire), times each nightly
     job against a bare statement doing the same work in the same run:
       - check_ledger (before the jobs) against the same five checks as plain SQL;
       - the tier re-evaluation (members_whose_tier_changes, then reevaluate_tiers_of
         for each chunk, as the reevaluate_tiers task does) against one UPDATE that
         sets every changing member's tier and writes its history row;
       - the release and expiry (due_member_chunks, then bring_members_up_to_date for
         each chunk, as release_pending_points does) against the same statements for
         every due member at once;
       - check_ledger again (after the jobs: it must still be clean).
     Bare statements run in a transaction that is rolled back (the fastest of
     --repeats counts); the jobs run once and commit;
  3. reads the peak resident memory of this Python process during each job (VmHWM,
     reset before it), to show it does not grow with the members;
  4. times the first page of the member transactions API's query for the member with
     the most entries, and shows its plan (it must use entry_member_history).

It prints a table per size and saves the figures as JSON in bench/results/. The
target (issue #11): each job within 2x its bare statement, the memory flat from the
small size to the large. There are no pass/fail thresholds: the figures are for reading.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.insight import (  # noqa: E402
    DEFAULT_SERVER,
    LUHN,
    PLAN,
    STORES,
    WithoutIndexes,
    current_memory_mb,
    drawn_purchases,
    migrated_database,
    parse_sizes,
    peak_memory_mb,
    reset_peak_memory,
    run_benchmark,
    sql,
    sql_value,
    vacuum,
)
from bench.scale import say  # noqa: E402

TARGET_RATIO = 2.0
TABLES = ("loyalty_member", "loyalty_purchase", "loyalty_pointsentry", "loyalty_pointslot")
QUICK_MEMBERS = 20_000


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000,
                        help="members at the largest size (default 1000000)")
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="member counts to measure, comma-separated (default: "
                             "MEMBERS/10,MEMBERS)")
    parser.add_argument("--per-member", type=float, default=10.0,
                        help="purchases a member on average (default 10, at least 2)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke test: {QUICK_MEMBERS // 10:,} then {QUICK_MEMBERS:,} "
                             "members")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each bare statement; the fastest counts (default 2)")
    parser.add_argument("--seed", type=float, default=0.1111,
                        help="setseed() value for the data, between -1 and 1")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL server to create the throwaway database on (default: "
                             "DATABASE_URL's server, else " + DEFAULT_SERVER + ")")
    parser.add_argument("--database-name", default=None,
                        help="name of the throwaway database (default: loyalty_bench_<pid>_<time>;"
                             " it must not exist)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the throwaway database (largest size) and print where it is")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.sizes = QUICK_MEMBERS, [QUICK_MEMBERS // 10, QUICK_MEMBERS]
    if args.members < 100:
        parser.error("--members must be at least 100")
    if args.per_member < 2:
        parser.error("--per-member must be at least 2")
    if args.sizes is None:
        args.sizes = sorted({max(args.members // 10, 100), args.members})
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


# --- Building the ledger -----------------------------------------------------------------

# One row per purchase of the plan, with its points and the fate of its lot.
BUYS = """
CREATE TEMP TABLE bench_buy AS
SELECT n, member_id, store_id, occurred_at, amount, floor(amount)::bigint AS points,
       occurred_at + interval '14 days' AS available_at,
       occurred_at + interval '365 days' AS expires_at,
       CASE WHEN occurred_at + interval '14 days' > %(now)s THEN 'pending'
            WHEN u_spend < 0.35 THEN 'spent'
            WHEN occurred_at + interval '365 days' <= %(now)s THEN 'expired'
            ELSE 'open' END AS fate,
       occurred_at + interval '14 days'
           + u_when * (least(occurred_at + interval '365 days', %(now)s)
                       - (occurred_at + interval '14 days')) AS spent_at
{DRAWN}""".replace("{DRAWN}", drawn_purchases("random() AS u_spend, random() AS u_when"))

# Every entry, numbered in each member's order, with its running total.
EVENTS = """
CREATE TEMP TABLE bench_entry AS
SELECT row_number() OVER (ORDER BY member_id, at, k, n) AS id,
       sum(points) OVER (PARTITION BY member_id ORDER BY at, k, n
                         ROWS UNBOUNDED PRECEDING) AS balance_after,
       *
FROM (
    SELECT member_id, occurred_at AS at, 0 AS k, n, 'earn' AS kind, points,
           points AS lifetime_delta, store_id, 'Purchase' AS reason,
           'purchase:' || n AS reference
    FROM bench_buy
    UNION ALL
    SELECT member_id, spent_at, 1, n, 'redeem', -points, 0, NULL, 'Reward', 'redeem:' || n
    FROM bench_buy WHERE fate = 'spent'
    UNION ALL
    SELECT member_id, expires_at, 2, n, 'expire', -points, 0, NULL,
           'Points earned on ' || to_char(occurred_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD')
               || ' expired',
           'lot:' || n
    FROM bench_buy WHERE fate = 'expired'
) AS events
"""

ENTRIES = """
INSERT INTO loyalty_pointsentry (id, member_id, kind, points, balance_after, lifetime_delta,
                                 reason, reference, store_id, created_by_id, created_at)
SELECT id, member_id, kind, points, balance_after, lifetime_delta, reason, reference,
       store_id, NULL, at
FROM bench_entry
"""

LOTS = """
INSERT INTO loyalty_pointslot (id, member_id, entry_id, points, remaining, spent, expired,
                               reversed, clawed_back, qualifying, earned_at, available_at,
                               released, expires_at)
SELECT b.n, b.member_id, e.id, b.points,
       CASE WHEN b.fate IN ('open', 'pending') THEN b.points ELSE 0 END,
       CASE WHEN b.fate = 'spent' THEN b.points ELSE 0 END,
       CASE WHEN b.fate = 'expired' THEN b.points ELSE 0 END,
       0, 0, true, b.occurred_at, b.available_at, b.fate <> 'pending', b.expires_at
FROM bench_buy b JOIN bench_entry e ON e.n = b.n AND e.k = 0
"""

PURCHASES = """
INSERT INTO loyalty_purchase (
    id, order_id, amount, occurred_at, points_earned, points_breakdown, points_reversed,
    refunded_amount, balance_after, fingerprint, created_at, entry_id, member_id, store_id)
SELECT b.n, 'BENCH-' || b.n, b.amount, b.occurred_at, b.points, '[]'::jsonb, 0, 0, 0,
       md5('BENCH-' || b.n), b.occurred_at, e.id, b.member_id, b.store_id
FROM bench_buy b JOIN bench_entry e ON e.n = b.n AND e.k = 0
"""

# Each member's points, and the tier its window supports (one in 97 off by one).
MEMBERS = """
INSERT INTO loyalty_member (
    id, card_number, email, phone, first_name, last_name, birth_date, language,
    email_marketing, email_marketing_at, sms_marketing, sms_marketing_at, balance, pending,
    lifetime_earned, status, created_at, updated_at, merged_into_id, referred_by_id, user_id,
    tier_id)
SELECT p.i, (100000000 + p.i)::text || pg_temp.bench_luhn((100000000 + p.i)::text),
       'bench' || p.i || '@example.com', '', 'Bench', 'Member ' || p.i, NULL, '',
       false, NULL, false, NULL, coalesce(s.balance, 0), coalesce(s.pending, 0),
       coalesce(s.lifetime, 0), 'active',
       %(now)s - p.join_days * interval '1 day', %(now)s, NULL, NULL, NULL,
       (%(tiers)s::bigint[])[1 + (CASE WHEN coalesce(s.window_points, 0) >= 2000 THEN 2
                                       WHEN coalesce(s.window_points, 0) >= 500 THEN 1
                                       ELSE 0 END
                                  + CASE WHEN p.i %% 97 = 0 THEN 1 ELSE 0 END) %% 3]
FROM bench_plan p
LEFT JOIN (
    SELECT member_id,
           sum(points) FILTER (WHERE fate = 'open') AS balance,
           sum(points) FILTER (WHERE fate = 'pending') AS pending,
           sum(points) AS lifetime,
           sum(points) FILTER (WHERE occurred_at > %(now)s - interval '365 days') AS window_points
    FROM bench_buy GROUP BY member_id
) s ON s.member_id = p.i
ORDER BY p.i
"""


def set_up_programme() -> dict:
    """The programme of the bench: stores and tiers, once per database, and the e-shop's
    webhook endpoint for the expiring-points reminders (nothing listens: never sent here)."""
    from decimal import Decimal

    from loyalty.models import Programme, Store, Tier, WebhookEndpoint

    programme = Programme.load()
    programme.return_window_days = 14
    programme.points_validity_days = 365
    programme.tier_window_days = 365
    programme.tier_basis = Programme.TierBasis.POINTS
    programme.save()
    stores = [Store.objects.create(code=code, name=name, kind=kind).pk
              for code, name, kind in STORES]
    tiers = [Tier.objects.create(code="bronze", name="Bronze", rank=0, threshold=0).pk,
             Tier.objects.create(code="silver", name="Silver", rank=1, threshold=500,
                                 earn_multiplier=Decimal("1.25")).pk,
             Tier.objects.create(code="gold", name="Gold", rank=2, threshold=2000,
                                 earn_multiplier=Decimal("1.50")).pk]
    WebhookEndpoint.objects.create(store_id=stores[0], url="http://127.0.0.1:9/hooks",
                                   events=["points.expiring"])
    return {"stores": stores, "tiers": tiers}


def build(*, members: int, purchases: int, seed: float, now: datetime, setup: dict) -> dict:
    from django.utils import timezone

    params = {"members": members, "purchases": purchases, "now": now,
              "stores": setup["stores"], "store_count": len(setup["stores"]),
              "tiers": setup["tiers"], "tz": timezone.get_current_timezone_name()}
    timings = {}
    start = time.perf_counter()

    def step(name, statement):
        t = time.perf_counter()
        sql(statement, params)
        timings[name] = time.perf_counter() - t

    sql("SELECT setseed(%(seed)s)", {"seed": seed})
    for name in ("bench_plan", "bench_buy", "bench_entry"):
        sql(f"DROP TABLE IF EXISTS pg_temp.{name}")
    sql("DROP FUNCTION IF EXISTS pg_temp.bench_luhn(text)")
    sql(LUHN)
    sql("SET synchronous_commit = off")
    sql("SET work_mem = '256MB'")
    step("plan", PLAN)
    step("purchases drawn", BUYS)
    step("entries numbered", EVENTS)
    with WithoutIndexes(*TABLES):
        step("members", MEMBERS)
        step("entries", ENTRIES)
        step("lots", LOTS)
        step("purchases", PURCHASES)
        t = time.perf_counter()
    timings["indexes"] = time.perf_counter() - t
    for table in TABLES:
        sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
            f"(SELECT coalesce(max(id), 1) FROM {table}))")
    sql("RESET work_mem")
    sql("RESET synchronous_commit")
    for name in ("bench_plan", "bench_buy", "bench_entry"):
        sql(f"DROP TABLE pg_temp.{name}")
    t = time.perf_counter()
    vacuum(TABLES)
    timings["vacuum_analyze"] = time.perf_counter() - t
    counts = {table: sql_value(f"SELECT count(*) FROM {table}") for table in TABLES}  # noqa: S608
    sizes = sql_value("SELECT sum(pg_total_relation_size(t::regclass)) "
                      "FROM unnest(%(t)s::text[]) t", {"t": list(TABLES)})
    return {"seconds": round(time.perf_counter() - start, 1),
            "steps": {k: round(v, 1) for k, v in timings.items()},
            "members": counts["loyalty_member"], "purchases": counts["loyalty_purchase"],
            "entries": counts["loyalty_pointsentry"], "lots": counts["loyalty_pointslot"],
            "database_mb": round(sizes / 2**20)}


def reset_data() -> None:
    from django.core.cache import cache

    sql("TRUNCATE loyalty_member, loyalty_purchase, loyalty_pointsentry, loyalty_pointslot, "
        "loyalty_tierchange, loyalty_webhookdelivery RESTART IDENTITY CASCADE")
    cache.clear()


# --- The bare statements -------------------------------------------------------------------

BARE_CHECKS = [
    # 1. Members against the sums of their entries.
    """SELECT count(*) FROM loyalty_member m
       LEFT JOIN (SELECT member_id, sum(points) AS total, sum(lifetime_delta) AS lifetime
                  FROM loyalty_pointsentry GROUP BY member_id) e ON e.member_id = m.id
       WHERE coalesce(e.total, 0) <> m.balance + m.pending
          OR coalesce(e.lifetime, 0) <> m.lifetime_earned""",
    # 2. Running totals.
    """SELECT count(*) FROM (
           SELECT balance_after, sum(points) OVER (PARTITION BY member_id ORDER BY id) AS r
           FROM loyalty_pointsentry) x WHERE r <> balance_after""",
    # 3. Lots add up.
    """SELECT count(*) FROM loyalty_pointslot
       WHERE points <> remaining + spent + expired + reversed OR clawed_back > spent
          OR remaining < 0 OR points <= 0""",
    # 4. Lots against pending points and balances.
    """SELECT count(*) FROM loyalty_member m
       LEFT JOIN (SELECT member_id, sum(remaining) FILTER (WHERE NOT released) AS pending,
                         sum(remaining) FILTER (WHERE released) AS spendable
                  FROM loyalty_pointslot WHERE remaining > 0 GROUP BY member_id) l
              ON l.member_id = m.id
       WHERE m.pending <> coalesce(l.pending, 0)
          OR coalesce(l.spendable, 0) <> greatest(m.balance, 0)
          OR (m.status <> 'active' AND (m.balance <> 0 OR m.pending <> 0
                                        OR l.member_id IS NOT NULL))""",
    # 5. Purchases against their entries and refunds.
    """SELECT count(*) FROM loyalty_purchase p
       LEFT JOIN loyalty_pointsentry e ON e.id = p.entry_id
       WHERE (e.id IS NOT NULL AND e.points <> p.points_earned)
          OR (e.id IS NULL AND p.points_earned <> 0)
          OR p.refunded_amount > p.amount OR p.points_reversed > p.points_earned""",
    """SELECT count(*) FROM loyalty_purchase p
       LEFT JOIN (SELECT purchase_id, sum(amount) AS total FROM loyalty_refund
                  GROUP BY purchase_id) r ON r.purchase_id = p.id
       WHERE p.refunded_amount > 0 AND r.total IS DISTINCT FROM p.refunded_amount""",
]

BARE_TIERS = """
WITH target AS (
    SELECT m.id, m.tier_id AS from_tier,
           CASE WHEN coalesce(q.value, 0) >= 2000 THEN %(gold)s
                WHEN coalesce(q.value, 0) >= 500 THEN %(silver)s
                ELSE %(bronze)s END AS to_tier,
           coalesce(q.value, 0) AS value
    FROM loyalty_member m
    LEFT JOIN (SELECT member_id, sum(points - reversed - clawed_back) AS value
               FROM loyalty_pointslot
               WHERE qualifying AND earned_at > %(since)s AND earned_at <= %(now)s
               GROUP BY member_id) q ON q.member_id = m.id
    WHERE m.status = 'active'
), changed AS (
    UPDATE loyalty_member m SET tier_id = t.to_tier, updated_at = %(now)s
    FROM target t WHERE m.id = t.id AND m.tier_id IS DISTINCT FROM t.to_tier
    RETURNING t.id, t.from_tier, t.to_tier, t.value
)
INSERT INTO loyalty_tierchange (member_id, from_tier_id, to_tier_id, reason, qualifying_value,
                                by_id, at)
SELECT id, from_tier, to_tier, 'reevaluation', value, NULL, %(now)s FROM changed
"""

BARE_DUE = [
    """WITH released AS (
           UPDATE loyalty_pointslot SET released = true
           WHERE NOT released AND available_at <= %(now)s RETURNING member_id, remaining)
       UPDATE loyalty_member m SET pending = m.pending - r.points,
                                   balance = m.balance + r.points, updated_at = %(now)s
       FROM (SELECT member_id, sum(remaining) AS points FROM released GROUP BY member_id) r
       WHERE m.id = r.member_id""",
    """INSERT INTO loyalty_pointsentry (member_id, kind, points, balance_after, lifetime_delta,
                                        reason, reference, store_id, created_by_id, created_at)
       SELECT d.member_id, 'expire', -d.remaining, m.balance + m.pending - d.cumulated, 0,
              'Points earned on ' || to_char(d.earned_at AT TIME ZONE %(tz)s, 'YYYY-MM-DD')
                  || ' expired', 'lot:' || d.id, NULL, NULL, %(now)s
       FROM (SELECT id, member_id, remaining, earned_at, expires_at,
                    sum(remaining) OVER (PARTITION BY member_id ORDER BY expires_at, id)
                        AS cumulated
             FROM loyalty_pointslot
             WHERE released AND remaining > 0 AND expires_at <= %(now)s) d
       JOIN loyalty_member m ON m.id = d.member_id
       ORDER BY d.member_id, d.expires_at, d.id""",
    """WITH expired AS (
           UPDATE loyalty_pointslot SET expired = expired + remaining, remaining = 0
           WHERE released AND remaining > 0 AND expires_at <= %(now)s
           RETURNING member_id, expired)
       UPDATE loyalty_member m SET balance = m.balance - e.points, updated_at = %(now)s
       FROM (SELECT member_id, sum(expired) AS points FROM expired GROUP BY member_id) e
       WHERE m.id = e.member_id""",
]


# The same reminders as notify_expiring_points, with the least body: one per member and
# local day with spendable points expiring within 30 days, for the one endpoint.
BARE_EXPIRING = """
INSERT INTO loyalty_webhookdelivery (endpoint_id, uuid, event, event_key, body, status,
                                     attempts, failures, last_error, created_at,
                                     next_attempt_at)
SELECT %(endpoint)s, gen_random_uuid(), 'points.expiring',
       'expiring:' || g.member_id || ':' || g.day,
       json_build_object('member_id', g.member_id, 'points', g.points,
                         'expires_at', g.expires_at)::text,
       'pending', 0, 0, '', %(now)s, %(now)s
FROM (SELECT l.member_id, (l.expires_at AT TIME ZONE %(tz)s)::date AS day,
             sum(l.remaining) AS points, min(l.expires_at) AS expires_at
      FROM loyalty_pointslot l JOIN loyalty_member m ON m.id = l.member_id
      WHERE l.released AND l.remaining > 0 AND l.expires_at > %(now)s
        AND l.expires_at <= %(now)s + interval '30 days' AND m.status = 'active'
      GROUP BY l.member_id, day) g
"""

# Claiming every due delivery at once: the least the dispatcher's batches can cost.
BARE_CLAIM = """
UPDATE loyalty_webhookdelivery SET claim = gen_random_uuid(),
       next_attempt_at = %(now)s + interval '2 minutes'
WHERE status IN ('pending', 'retrying') AND next_attempt_at <= %(now)s
"""


def time_bare(statements: list[str], params: dict, *, repeats: int,
              work_mem: str | None = None) -> dict:
    """The fastest of `repeats` runs of the statements in one transaction, rolled back."""
    from django.db import connection, transaction

    class Rollback(Exception):
        pass

    runs, counts = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            with transaction.atomic():
                if work_mem:
                    sql(f"SET LOCAL work_mem = '{work_mem}'")
                    sql("SET LOCAL jit = off")
                counts = []
                with connection.cursor() as cursor:
                    for statement in statements:
                        cursor.execute(statement, params)
                        counts.append(cursor.fetchone()[0] if cursor.description
                                      else cursor.rowcount)
                runs.append(time.perf_counter() - start)
                raise Rollback
        except Rollback:
            pass
    return {"seconds": round(min(runs), 3), "all_seconds": [round(r, 3) for r in runs],
            "rows": counts}


# --- The jobs --------------------------------------------------------------------------------


def measured(function) -> dict:
    """Run `function` once; its time and this process's peak memory while it ran."""
    import gc

    gc.collect()
    before = current_memory_mb()
    resettable = reset_peak_memory()
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 3), "result": result,
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak_memory_mb(resettable), 1)}


def check_ledger() -> dict:
    from django.core.management import call_command

    out, err = io.StringIO(), io.StringIO()
    with contextlib.suppress(SystemExit):  # the summary says whether it is clean
        call_command("check_ledger", stdout=out, stderr=err)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    if not summary["ok"]:
        raise SystemExit(f"bench: check_ledger is not clean: {err.getvalue()[:2000]}")
    return summary


def reevaluate_tiers(at: datetime) -> dict:
    """What the reevaluate_tiers task does, eagerly, at `at`."""
    from loyalty.services import tiers
    from loyalty.tasks import CHUNK

    found = changed = chunks = 0
    for chunk in tiers.members_whose_tier_changes(now=at, size=CHUNK):
        found += len(chunk)
        chunks += 1
        changed += tiers.reevaluate_tiers_of(member_ids=chunk, now=at)
    return {"found": found, "changed": changed, "chunks": chunks}


def release_and_expire(at: datetime) -> dict:
    """What the release_pending_points task does, eagerly, at `at`."""
    from loyalty.services import ledger
    from loyalty.tasks import CHUNK

    members = expired = chunks = 0
    for chunk in ledger.due_member_chunks(now=at, size=CHUNK):
        members += len(chunk)
        chunks += 1
        expired += ledger.bring_members_up_to_date(member_ids=chunk, now=at)
    return {"members": members, "expiry_entries": expired, "chunks": chunks}


def notify_expiring(at: datetime) -> dict:
    """What the notify_expiring_points task does, at `at`."""
    from loyalty.services import webhooks

    return {"deliveries": webhooks.notify_expiring_points(now=at)}


def dispatch(at: datetime) -> dict:
    """What beat's dispatch_webhooks does with the reminders just written: claim them in
    batches and hand each batch over (the hand-over itself counted out: no broker here)."""
    from unittest import mock

    from loyalty.services import outbox, webhook_delivery

    tasks = []
    with mock.patch.object(outbox, "run_task", side_effect=lambda name, *args: tasks.append(
            len(args[0])) or True):
        handed = webhook_delivery.dispatch_due(now=at, claims=10**9)
    return {"handed_over": handed, "tasks": len(tasks)}


def transactions_page() -> dict:
    """The member transactions API's first page for the member with the most entries."""
    from django.db import connection

    from loyalty import selectors
    from loyalty.models import Member

    member_id = sql_value("SELECT member_id FROM loyalty_pointsentry GROUP BY member_id "
                          "ORDER BY count(*) DESC LIMIT 1")
    member = Member.objects.get(pk=member_id)
    query = selectors.transactions(member=member)[:20]
    with connection.cursor() as cursor:
        sql_text, params = query.query.sql_with_params()
        cursor.execute("EXPLAIN " + sql_text, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        list(query.all())
        runs.append(time.perf_counter() - start)
    return {"member_entries": member.entries.count(), "ms": round(1000 * min(runs), 2),
            "uses_index": "entry_member_history" in plan, "plan": plan}


def measure_size(*, members: int, args, now: datetime, setup: dict) -> dict:
    from loyalty.models import Tier

    purchases = round(members * args.per_member)
    say(f"\n== {members:,} members, {purchases:,} purchases ==")
    load_before = os.getloadavg()[0]
    built = build(members=members, purchases=purchases, seed=args.seed, now=now, setup=setup)
    steps = ", ".join(f"{k} {v:.0f} s" for k, v in built["steps"].items())
    say(f"  built in {built['seconds']:.0f} s ({steps}): "
        f"{built['members']:,} members, {built['purchases']:,} purchases, "
        f"{built['entries']:,} entries, {built['lots']:,} lots; {built['database_mb']:,} MB")
    at = now + timedelta(days=1)
    jobs = {}

    def report(name, bare, job, detail=""):
        ratio = job["seconds"] / bare["seconds"] if bare["seconds"] else float("inf")
        jobs[name] = {"bare": bare, "job": job, "ratio": round(ratio, 2)}
        say(f"  {name}: {job['seconds']:.2f} s against bare {bare['seconds']:.2f} s "
            f"({ratio:.2f}x); peak RSS {job['peak_rss_mb']:.0f} MB{detail}")

    bare = time_bare(BARE_CHECKS, {}, repeats=1)
    job = measured(check_ledger)
    report("check_ledger (before)", bare, job)

    tier_ids = dict(Tier.objects.values_list("code", "pk"))
    params = {"now": at, "since": at - timedelta(days=365), **tier_ids}
    bare = time_bare([BARE_TIERS], params, repeats=args.repeats, work_mem="64MB")
    job = measured(lambda: reevaluate_tiers(at))
    report("reevaluate_tiers", bare, job,
           f"; {job['result']['changed']:,} changed (bare: {bare['rows'][0]:,})")

    from django.utils import timezone

    params = {"now": at, "tz": timezone.get_current_timezone_name()}
    bare = time_bare(BARE_DUE, params, repeats=args.repeats)
    job = measured(lambda: release_and_expire(at))
    report("release_pending_points", bare, job,
           f"; {job['result']['members']:,} members due, "
           f"{job['result']['expiry_entries']:,} expiry entries (bare: {bare['rows'][1]:,})")

    bare = time_bare(BARE_CHECKS, {}, repeats=1)
    job = measured(check_ledger)
    report("check_ledger (after)", bare, job)

    from loyalty.models import WebhookEndpoint

    params = {"now": at, "tz": timezone.get_current_timezone_name(),
              "endpoint": WebhookEndpoint.objects.get().pk}
    bare = time_bare([BARE_EXPIRING], params, repeats=args.repeats)
    job = measured(lambda: notify_expiring(at))
    report("notify_expiring_points", bare, job,
           f"; {job['result']['deliveries']:,} deliveries (bare: {bare['rows'][0]:,})")
    bare = time_bare([BARE_CLAIM], params, repeats=args.repeats)
    job = measured(lambda: dispatch(at))
    report("dispatch_webhooks", bare, job,
           f"; {job['result']['handed_over']:,} claimed, handed over in "
           f"{job['result']['tasks']:,} tasks")

    page = transactions_page()
    say(f"  transactions API, first page of {page['member_entries']} entries: {page['ms']:.2f} ms, "
        f"{'uses' if page['uses_index'] else 'does NOT use'} entry_member_history")
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    say(f"  load average (1 min): {load['before']:.1f} before, {load['after']:.1f} after")
    return {"members": members, "build": built, "at": at.isoformat(), "jobs": jobs,
            "transactions_page": page, "load_average": load}


def print_tables(results: dict) -> None:
    sizes = results["sizes"]
    say("")
    head = f"{'job':<26}" + "".join(
        f" {format(size['members'], ',') + ': s':>14} {'bare s':>8} {'ratio':>6} {'MB':>5}"
        for size in sizes)
    say(head)
    say("-" * len(head))
    for name in sizes[0]["jobs"]:
        line = f"{name:<26}"
        for size in sizes:
            job = size["jobs"][name]
            line += (f" {job['job']['seconds']:>14.2f} {job['bare']['seconds']:>8.2f} "
                     f"{job['ratio']:>5.2f}x {job['job']['peak_rss_mb']:>5.0f}")
        say(line)
    say("-" * len(head))
    largest = sizes[-1]
    worst = max(job["ratio"] for job in largest["jobs"].values())
    say(f"At {largest['members']:,} members the slowest job against its bare statement: "
        f"{worst:.2f}x (target <= {TARGET_RATIO:.0f}x): "
        f"{'met' if worst <= TARGET_RATIO else 'NOT met'}")
    if len(sizes) > 1:
        def peak(size):
            return max(job["job"]["peak_rss_mb"] for job in size["jobs"].values())
        small = sizes[0]
        say(f"Peak RSS of this process during the jobs: {peak(small):.0f} MB at "
            f"{small['members']:,} members, {peak(largest):.0f} MB at {largest['members']:,} "
            f"(x{peak(largest) / peak(small):.2f} for x{largest['members'] / small['members']:.0f} "
            f"the members; flat would be x1.00)")


def run(args) -> dict:
    version, settings = migrated_database()
    from django.db import connection
    from django.utils import timezone

    setup = set_up_programme()
    now = timezone.now().replace(microsecond=0)
    results = {"database": connection.vendor, "postgresql": version, "settings": settings,
               "now": now.isoformat(), "seed": args.seed, "per_member": args.per_member,
               "sizes": []}
    for number, members in enumerate(args.sizes):
        if number:
            reset_data()
        results["sizes"].append(measure_size(members=members, args=args, now=now, setup=setup))
    print_tables(results)
    return results


def main(argv=None) -> int:
    return run_benchmark(parse_args(argv), name="nightly", title="nightly jobs", run=run)


if __name__ == "__main__":
    sys.exit(main())
