"""Scale benchmark of the nightly insight run: `make bench-insight` (or `--help`).

`make bench` runs it after the scale benchmark. It works on a throwaway
PostgreSQL database (a new one on the server that DATABASE_URL or
--database-url names, else 127.0.0.1:5432 as postgres; dropped at the end
unless --keep), migrated, and for each size (default 100,000 then 1,000,000
members, 10 purchases a member on average):

  1. builds the members and their purchases with set-based SQL (generate_series
     and random() after setseed, so the same seed gives the same data): a few
     members who never bought, many one-time buyers, repeat buyers whose
     purchase counts follow a capped Pareto tail (a few hundred purchases for
     the heaviest), each with their own basket size (log-normal), active over
     their own stretch of the last two years, some still buying and some gone;
     purchases spread over four stores, 3.5 % fully and 2.5 % partly refunded.
     The tables' secondary indexes and foreign keys are dropped for the load
     and rebuilt after it, then VACUUM ANALYZE, as after a bulk import;
  2. times the baseline: one bare statement that scores R, F and M with NTILE
     over an aggregate of the same purchases (same window, net of refunds) and
     writes them into a new table, with the work_mem the run sets for itself
     (the fastest of --baseline-repeats);
  3. times the nightly insight run, `run_insight(now=...)`, twice: first on
     empty insight tables, then a day later (steady state: scores, histories
     and the fit exist), with the time of each of its steps. Between the two,
     VACUUM ANALYZE of the insight tables (not timed) stands for the day in
     which autovacuum would clear what the first run rewrote;
  4. reads the peak resident memory of this Python process during each run
     (VmHWM, reset before the run), to show it does not grow with the members.

It prints a table per size and a summary across sizes, and saves the figures as
JSON in bench/results/. The target (issue #10): the run within 2x the baseline,
and the peak memory flat from the small to the large size. There are no
pass/fail thresholds: the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import ThrowawayDatabase, say, self_contained_environment  # noqa: E402

DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 2.0
STORES = [("paris", "Paris", "in_store"), ("lyon", "Lyon", "in_store"),
          ("bordeaux", "Bordeaux", "in_store"), ("web", "E-shop", "online")]
QUICK_MEMBERS = 20_000


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of numbers: {text}") from None
    if not sizes or any(size < 100 for size in sizes):
        raise argparse.ArgumentTypeError("each size must be at least 100 members")
    return sorted(set(sizes))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000,
                        help="members at the largest size (default 1000000)")
    parser.add_argument("--purchases", type=int, default=None,
                        help="purchases at the largest size (default 10 a member); smaller "
                             "sizes get the same number a member")
    parser.add_argument("--sizes", type=parse_sizes, default=None,
                        help="member counts to measure, comma-separated (default: "
                             "MEMBERS/10,MEMBERS); peak memory is compared across them")
    parser.add_argument("--quick", action="store_true",
                        help=f"a smoke test: {QUICK_MEMBERS // 10:,} then {QUICK_MEMBERS:,} "
                             "members (overrides --members and --sizes)")
    parser.add_argument("--runs", type=int, default=2,
                        help="insight runs at each size, a day apart (default 2: the first on "
                             "empty insight tables, the second in steady state; 0: build and "
                             "baseline only)")
    parser.add_argument("--baseline-repeats", type=int, default=2,
                        help="times the baseline statement runs at each size; the fastest "
                             "counts (default 2)")
    parser.add_argument("--seed", type=float, default=0.4242,
                        help="setseed() value for the data, between -1 and 1 (default 0.4242)")
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL server to create the throwaway database on (default: "
                             "DATABASE_URL's server, else " + DEFAULT_SERVER + ")")
    parser.add_argument("--keep", action="store_true",
                        help="keep the throwaway database (with the largest size's data) and "
                             "print where it is")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.quick:
        args.members, args.sizes = QUICK_MEMBERS, [QUICK_MEMBERS // 10, QUICK_MEMBERS]
    if args.members < 100:
        parser.error("--members must be at least 100")
    if args.purchases is None:
        args.purchases = 10 * args.members
    if args.purchases < 2 * args.members:
        parser.error("--purchases must be at least twice --members (one-time buyers and "
                     "repeat buyers are drawn first)")
    if args.sizes is None:
        args.sizes = sorted({max(args.members // 10, 100), args.members})
    if not -1 <= args.seed <= 1:
        parser.error("--seed must be between -1 and 1 (PostgreSQL's setseed)")
    if args.runs < 0 or args.baseline_repeats < 1:
        parser.error("--runs must be at least 0 and --baseline-repeats at least 1")
    args.per_member = args.purchases / args.members
    return args


# --- Memory of this process --------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def reset_peak_memory() -> bool:
    """Reset the peak resident set size (Linux: VmHWM); False where that cannot be done."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory_mb(resettable: bool) -> float:
    """The process's peak resident memory since the last reset (or since it started)."""
    if resettable:
        kb = _status_kb("VmHWM")
        if kb is not None:
            return kb / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def current_memory_mb() -> float:
    kb = _status_kb("VmRSS")
    return kb / 1024 if kb is not None else float("nan")


# --- Building the data -------------------------------------------------------------------


def sql(statement: str, params: dict | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def sql_value(statement: str, params: dict | None = None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchone()[0]


def set_up_programme() -> dict:
    """Stores and tiers, once per database (every size reuses them)."""
    from decimal import Decimal

    from loyalty.models import Programme, Store, Tier

    Programme.load()
    stores = [Store.objects.create(code=code, name=name, kind=kind).pk
              for code, name, kind in STORES]
    tiers = [Tier.objects.create(code="bronze", name="Bronze", rank=0, threshold=0).pk,
             Tier.objects.create(code="silver", name="Silver", rank=1, threshold=500,
                                 earn_multiplier=Decimal("1.25")).pk,
             Tier.objects.create(code="gold", name="Gold", rank=2, threshold=2000,
                                 earn_multiplier=Decimal("1.50")).pk]
    return {"stores": stores, "tiers": tiers}


class WithoutIndexes:
    """Drops a table's secondary indexes, unique and foreign-key constraints; puts them back.

    The primary key stays (other tables' foreign keys point at it). Rebuilding an index
    once after a bulk load is far cheaper than maintaining it row by row, and a deferred
    foreign key would otherwise queue one trigger event per inserted row.
    """

    def __init__(self, *tables: str):
        self.tables = tables
        self.constraints: list[tuple[str, str, str]] = []
        self.indexes: list[tuple[str, str]] = []

    def __enter__(self):
        from django.db import connection

        with connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(
                    "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype IN ('u', 'f', 'x') "
                    "ORDER BY contype DESC, conname", [table])
                self.constraints += [(table, name, definition)
                                     for name, definition, _kind in cursor.fetchall()]
                cursor.execute(
                    "SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                    "JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary "
                    "AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
                    "                WHERE k.conindid = i.indexrelid "
                    "                AND k.conrelid = i.indrelid) "
                    "ORDER BY c.relname", [table])
                self.indexes += cursor.fetchall()
            for table, name, _definition in reversed(self.constraints):
                cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _definition in self.indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        return self

    def __exit__(self, *exc):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '512MB'")
            for _name, definition in self.indexes:
                cursor.execute(definition)
            # Unique constraints before the foreign keys.
            for table, name, definition in sorted(
                    self.constraints, key=lambda c: c[2].startswith("FOREIGN KEY")):
                cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            cursor.execute("RESET maintenance_work_mem")
        return False


# Luhn check digit of a string of digits, as loyalty.services.cards.luhn_digit.
LUHN = """
CREATE FUNCTION pg_temp.bench_luhn(body text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT ((10 - sum(CASE WHEN k % 2 = 1
                         THEN CASE WHEN d * 2 > 9 THEN d * 2 - 9 ELSE d * 2 END
                         ELSE d END) % 10) % 10)::text
  FROM (SELECT substr(reverse(body), k, 1)::int AS d, k
        FROM generate_series(1, length(body)) AS k) AS digits
$$
"""

# One row per member: how many purchases, over which days (counted back from now).
# kind 0: never bought (5 %); 1: one purchase (35 %); 2: repeat buyer. Repeat buyers
# share the purchases left after 1 each for one-timers and 2 each for them, in proportion
# to a Pareto(1.5) draw capped at 100: the cumulative rounding gives exactly --purchases.
PLAN = """
CREATE TEMP TABLE bench_plan AS
WITH draws AS (
    SELECT i, random() AS u_kind, random() AS u_tail, random() AS u_life, random() AS u_alive,
           random() AS u_end, random() AS u_first, random() AS u_join, random() AS u_mu1,
           random() AS u_mu2, random() AS u_home
    FROM generate_series(1, %(members)s) AS i
), kinds AS (
    SELECT *, CASE WHEN u_kind < 0.05 THEN 0 WHEN u_kind < 0.40 THEN 1 ELSE 2 END AS kind,
           least(power(1 - u_tail, -1 / 1.5::float8) - 1, 100) AS tail
    FROM draws
), totals AS (
    SELECT count(*) FILTER (WHERE kind = 2) AS repeaters,
           sum(tail) FILTER (WHERE kind = 2) AS tails,
           %(purchases)s - count(*) FILTER (WHERE kind = 1)
               - 2 * count(*) FILTER (WHERE kind = 2) AS extra
    FROM kinds
), cumulated AS (
    SELECT i, sum(tail) OVER (ORDER BY i) AS cum FROM kinds WHERE kind = 2
), repeat_counts AS (
    SELECT c.i, (2 + round(t.extra * c.cum / t.tails)
                 - round(t.extra * coalesce(lag(c.cum) OVER (ORDER BY c.i), 0) / t.tails))::int
               AS k
    FROM cumulated c CROSS JOIN totals t
), counted AS (
    SELECT d.*, CASE d.kind WHEN 2 THEN r.k ELSE d.kind END AS k
    FROM kinds d LEFT JOIN repeat_counts r USING (i)
), spans AS (
    -- A repeat buyer's active stretch: an exponential lifetime (mean 300 days), at least
    -- two days a purchase, at most the two years; 55 %% still buying today.
    SELECT *, CASE kind WHEN 2 THEN least(729, greatest(-ln(1 - u_life) * 300, 2.0 * k))
                        ELSE 0 END AS span
    FROM counted
), placed AS (
    SELECT *, CASE WHEN kind = 0 THEN NULL
                   WHEN kind = 1 THEN 730 * u_first
                   WHEN u_alive < 0.55 THEN 0
                   ELSE u_end * (730 - span) END AS last_days
    FROM spans
)
SELECT i, kind, k,
       coalesce(sum(k) OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)
           AS k_before,
       last_days, last_days + span AS first_days,
       coalesce(last_days + span, 0) + 45 * u_join + CASE kind WHEN 0 THEN 700 * u_first
                                                                ELSE 0 END AS join_days,
       ln(38) + 0.5 * sqrt(-2 * ln(1 - u_mu1)) * cos(2 * pi() * u_mu2) AS mu,
       (%(stores)s::bigint[])[1 + floor(u_home * %(store_count)s)::int] AS home
FROM placed
"""

MEMBERS = """
INSERT INTO loyalty_member (
    id, card_number, email, phone, first_name, last_name, birth_date, language,
    email_marketing, email_marketing_at, sms_marketing, sms_marketing_at, balance, pending,
    lifetime_earned, status, created_at, updated_at, merged_into_id, referred_by_id, user_id,
    tier_id)
SELECT i, (100000000 + i)::text || pg_temp.bench_luhn((100000000 + i)::text),
       'bench' || i || '@example.com', '', 'Bench', 'Member ' || i, NULL, '',
       false, NULL, false, NULL, 0, 0, 0, 'active',
       %(now)s - join_days * interval '1 day', %(now)s, NULL, NULL, NULL,
       (%(tiers)s::bigint[])[CASE WHEN k >= 30 THEN 3 WHEN k >= 10 THEN 2 ELSE 1 END]
FROM bench_plan
ORDER BY i
"""

# Historical purchases credit no points (as import_purchases does by default): the
# ledger stays consistent without entries. A purchase is at the member's home store 85 %
# of the time; its amount is log-normal around the member's own mean.
# Each planned purchase drawn: its number, member, store, time and amount, then the
# caller's own random columns (`extra`), in the same order so that a seed gives the same
# purchases to every benchmark that draws them.
DRAWN = """FROM (
    SELECT p.k_before + g.j AS n, p.i AS member_id,
           CASE WHEN random() < 0.85 THEN p.home
                ELSE (%(stores)s::bigint[])[1 + floor(random() * %(store_count)s)::int]
           END AS store_id,
           %(now)s - (p.last_days + (p.first_days - p.last_days) * random())
                     * interval '1 day' AS occurred_at,
           round(least(5000, greatest(1, exp(p.mu + 0.45 * sqrt(-2 * ln(1 - random()))
                                                    * cos(2 * pi() * random()))))::numeric,
                 2) AS amount,
           {extra}
    FROM bench_plan p CROSS JOIN LATERAL generate_series(1, p.k) AS g(j)
    WHERE p.k > 0
    OFFSET 0
) AS drawn
"""


def drawn_purchases(extra: str) -> str:
    return DRAWN.replace("{extra}", extra)


PURCHASES = """
INSERT INTO loyalty_purchase (
    id, order_id, amount, occurred_at, points_earned, points_breakdown, points_reversed,
    refunded_amount, balance_after, fingerprint, created_at, entry_id, member_id, store_id)
SELECT n, 'BENCH-' || n, amount, occurred_at, 0, '[]'::jsonb, 0,
       CASE WHEN u_refund < 0.035 THEN amount
            WHEN u_refund < 0.06 THEN round((amount * (0.1 + 0.8 * u_part))::numeric, 2)
            ELSE 0 END,
       0, md5('BENCH-' || n), occurred_at, NULL, member_id, store_id
{DRAWN}""".replace("{DRAWN}", drawn_purchases("random() AS u_refund, random() AS u_part"))


def build(*, members: int, purchases: int, seed: float, now: datetime, setup: dict) -> dict:
    """Members and purchases, set-based; returns what was built and how long it took."""
    from django.db import connection

    params = {"members": members, "purchases": purchases, "now": now,
              "stores": setup["stores"], "store_count": len(setup["stores"]),
              "tiers": setup["tiers"]}
    timings = {}
    start = time.perf_counter()
    sql("SELECT setseed(%(seed)s)", {"seed": seed})
    sql("DROP TABLE IF EXISTS pg_temp.bench_plan")
    sql("DROP FUNCTION IF EXISTS pg_temp.bench_luhn(text)")
    sql(LUHN)
    sql("SET synchronous_commit = off")
    sql(PLAN, params)
    timings["plan"] = time.perf_counter() - start
    with WithoutIndexes("loyalty_member", "loyalty_purchase"):
        t = time.perf_counter()
        sql(MEMBERS, params)
        timings["members"] = time.perf_counter() - t
        t = time.perf_counter()
        sql(PURCHASES, params)
        timings["purchases"] = time.perf_counter() - t
        t = time.perf_counter()
    timings["indexes"] = time.perf_counter() - t
    for table in ("loyalty_member", "loyalty_purchase"):
        statement = (f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                     f"(SELECT coalesce(max(id), 1) FROM {table}))")
        sql(statement)
    sql("RESET synchronous_commit")
    t = time.perf_counter()
    vacuum(["loyalty_member", "loyalty_purchase"])
    timings["vacuum_analyze"] = time.perf_counter() - t
    seconds = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT count(*) FILTER (WHERE kind = 0), count(*) FILTER (WHERE kind = 1),
                   count(*) FILTER (WHERE kind = 2), max(k),
                   percentile_disc(0.5) WITHIN GROUP (ORDER BY k),
                   percentile_disc(0.99) WITHIN GROUP (ORDER BY k)
            FROM bench_plan""")
        never, once, repeat, most, median, p99 = cursor.fetchone()
        cursor.execute("""
            SELECT count(*), count(*) FILTER (WHERE refunded_amount > 0),
                   sum(amount - refunded_amount), min(occurred_at)
            FROM loyalty_purchase""")
        count, refunded, net, first = cursor.fetchone()
        cursor.execute("SELECT pg_total_relation_size('loyalty_purchase')")
        size = cursor.fetchone()[0]
    sql("DROP TABLE pg_temp.bench_plan")
    return {"members": members, "purchases": count, "seconds": round(seconds, 1),
            "steps": {k: round(v, 1) for k, v in timings.items()},
            "never_bought": never, "one_time_buyers": once, "repeat_buyers": repeat,
            "most_purchases": most, "median_purchases": median, "p99_purchases": p99,
            "refunded_purchases": refunded, "net_spend": str(net),
            "first_purchase": first.isoformat() if first else None,
            "purchase_table_mb": round(size / 2**20)}


def reset_data() -> None:
    """Empty what a size wrote, before the next size (stores, tiers, programme stay)."""
    from django.core.cache import cache

    sql("TRUNCATE loyalty_member, loyalty_purchase, loyalty_memberinsight, "
        "loyalty_segmentperiod, loyalty_stageperiod, loyalty_insightsnapshot, loyalty_clvfit, "
        "loyalty_insightrun, loyalty_webhookdelivery RESTART IDENTITY CASCADE")
    cache.clear()


# --- The baseline and the measured run -------------------------------------------------

BASELINE = """
CREATE TABLE bench_bare_rfm AS
SELECT member_id,
       ntile(5) OVER (ORDER BY max(occurred_at)) AS r,
       ntile(5) OVER (ORDER BY count(*)) AS f,
       ntile(5) OVER (ORDER BY sum(amount - refunded_amount)) AS m
FROM loyalty_purchase
WHERE occurred_at > %(now)s - make_interval(days => %(window)s) AND occurred_at <= %(now)s
GROUP BY member_id
"""


def run_work_mem() -> str | None:
    """The work_mem the insight run gives its own transaction, if it sets one."""
    try:
        from loyalty.services.insight import run as insight_run
    except ImportError:
        return None
    value = getattr(insight_run, "WORK_MEM", None)
    return value if isinstance(value, str) and re.fullmatch(r"\d+\s*[kMG]?B", value) else None


def time_baseline(*, now: datetime, repeats: int) -> dict:
    """The fastest of `repeats` bare statements, with the same work_mem as the run."""
    from loyalty.models import Programme

    window = Programme.load().rfm_window_days
    work_mem = run_work_mem()
    if work_mem:
        sql(f"SET work_mem = '{work_mem}'")
    runs = []
    try:
        for _ in range(repeats):
            sql("DROP TABLE IF EXISTS bench_bare_rfm")
            start = time.perf_counter()
            sql(BASELINE, {"now": now, "window": window})
            runs.append(time.perf_counter() - start)
    finally:
        sql("RESET work_mem")
    scored = sql_value("SELECT count(*) FROM bench_bare_rfm")
    sql("DROP TABLE bench_bare_rfm")
    return {"seconds": round(min(runs), 3), "all_seconds": [round(r, 3) for r in runs],
            "members_scored": scored, "window_days": window,
            "work_mem": work_mem or sql_value("SHOW work_mem")}


# The steps of run_insight (loyalty/services/insight/run.py) and of the lifetime value's
# fit_and_score, timed by wrapping the module functions it calls while it runs: the run
# itself is what is measured, unchanged. A name that is not there (any more) is skipped.
STEPS = [
    ("stats", "drop_inactive", "drop inactive"),
    ("stats", "refresh", "figures and RFM scores"),
    ("clv", "fit_and_score", "lifetime value"),
    ("clv", "_create_customers_table", "  value: customers table"),
    ("clv", "_read_sample", "  value: read the sample"),
    ("clv", "_fit", "  value: fit the models"),
    ("clv", "_create_missing_rows", "  value: missing rows"),
    ("clv", "_score", "  value: score members"),
    ("clv", "_clear", "  value: clear the others"),
    ("stages", "assign", "stages"),
    ("segments", "assign", "segments"),
    ("snapshots", "take_monthly", "monthly snapshot"),
    ("snapshots", "summarise", "summary counts"),
]


class StepTimer:
    """Times the insight run's steps while it runs (see STEPS)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.patched: list[tuple[object, str, object]] = []

    def __enter__(self):
        import importlib

        for module_name, function, label in STEPS:
            module = importlib.import_module(f"loyalty.services.insight.{module_name}")
            original = getattr(module, function, None)
            if callable(original):
                setattr(module, function, self._timed(label, original))
                self.patched.append((module, function, original))
        return self

    def __exit__(self, *exc):
        for module, function, original in reversed(self.patched):
            setattr(module, function, original)
        return False

    def _timed(self, label, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = (self.seconds.get(label, 0.0)
                                       + time.perf_counter() - start)
        return timed

    def steps(self, total: float) -> dict[str, float]:
        ordered = {label: round(self.seconds[label], 2) for _m, _f, label in STEPS
                   if label in self.seconds}
        top = sum(seconds for label, seconds in ordered.items() if not label.startswith(" "))
        ordered["rest (lock, run row, commit)"] = round(total - top, 2)
        return ordered


INSIGHT_TABLES = ("loyalty_memberinsight", "loyalty_segmentperiod", "loyalty_stageperiod",
                  "loyalty_insightsnapshot", "loyalty_member")


def vacuum(tables) -> None:
    from django.db import connection

    with connection.cursor() as cursor:  # autocommit: VACUUM cannot run in a transaction
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")


def time_insight_run(*, now: datetime, resettable: bool) -> dict:
    import gc

    from loyalty.services.insight import run_insight

    gc.collect()
    before = current_memory_mb()
    reset_peak_memory()
    with StepTimer() as timer:
        start = time.perf_counter()
        run = run_insight(now=now)
        seconds = time.perf_counter() - start
    peak = peak_memory_mb(resettable)
    return {"seconds": round(seconds, 2), "steps": timer.steps(seconds),
            "members": run.members, "summary": run.summary,
            "rss_before_mb": round(before, 1), "peak_rss_mb": round(peak, 1)}


def measure_size(*, members: int, args, now: datetime, setup: dict,
                 resettable: bool) -> dict:
    purchases = round(members * args.per_member)
    say(f"\n== {members:,} members, {purchases:,} purchases ==")
    load_before = os.getloadavg()[0]
    built = build(members=members, purchases=purchases, seed=args.seed, now=now, setup=setup)
    say(f"  built in {built['seconds']:.1f} s ({_steps(built['steps'])}): "
        f"{built['never_bought']:,} never bought, {built['one_time_buyers']:,} once, "
        f"{built['repeat_buyers']:,} repeat buyers (median {built['median_purchases']}, "
        f"99th percentile {built['p99_purchases']}, most {built['most_purchases']} purchases); "
        f"{built['refunded_purchases']:,} refunded; purchase table {built['purchase_table_mb']} MB")
    baseline = time_baseline(now=now, repeats=args.baseline_repeats)
    say(f"  baseline (bare NTILE statement): {baseline['seconds']:.2f} s "
        f"({', '.join(f'{s:.2f}' for s in baseline['all_seconds'])}), "
        f"{baseline['members_scored']:,} members scored, work_mem {baseline['work_mem']} "
        f"(as the run's)")
    runs = []
    try:
        from loyalty.services.insight import run_insight  # noqa: F401
    except ImportError:
        say("  loyalty.services.insight.run_insight is not there yet: nothing to time")
        args.runs = 0
    for number in range(args.runs):
        at = now + timedelta(days=number)
        result = time_insight_run(now=at, resettable=resettable)
        result["now"] = at.isoformat()
        result["ratio"] = round(result["seconds"] / baseline["seconds"], 2)
        runs.append(result)
        state = "empty insight tables" if number == 0 else "steady state"
        say(f"  insight run {number + 1} ({state}): {result['seconds']:.2f} s, "
            f"{result['ratio']:.2f}x the baseline; peak RSS {result['peak_rss_mb']:.0f} MB "
            f"(before the run {result['rss_before_mb']:.0f} MB)")
        if number + 1 < args.runs:
            # The day between two nightly runs, in which autovacuum would clear the rows
            # the run rewrote (and which this server may not do: autovacuum can be off).
            t = time.perf_counter()
            vacuum(INSIGHT_TABLES)
            say(f"  (VACUUM ANALYZE of the insight tables before the next run: "
                f"{time.perf_counter() - t:.1f} s, not counted)")
    load = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    say(f"  load average (1 min): {load['before']:.1f} before, {load['after']:.1f} after")
    return {"members": members, "build": built, "baseline": baseline, "runs": runs,
            "load_average": load}


def _steps(steps: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in steps.items())


# --- The report --------------------------------------------------------------------------


def print_tables(results: dict) -> None:
    sizes = results["sizes"]
    runs = len(sizes[0]["runs"])
    say("")
    head = f"{'members':>10} {'purchases':>11} {'build s':>8} {'baseline s':>11}"
    for number in range(runs):
        head += f" {f'run {number + 1} s':>9} {'ratio':>6}"
    if runs:
        head += f" {'peak RSS MB':>12}"
    say(head)
    say("-" * len(head))
    for size in sizes:
        line = (f"{size['members']:>10,} {size['build']['purchases']:>11,} "
                f"{size['build']['seconds']:>8.0f} {size['baseline']['seconds']:>11.2f}")
        for run in size["runs"]:
            line += f" {run['seconds']:>9.2f} {run['ratio']:>5.2f}x"
        if runs:
            line += f" {peak_of(size):>12.0f}"
        say(line)
    say("-" * len(head))
    if not runs:
        return
    largest = sizes[-1]
    nightly = largest["runs"][-1]["ratio"]
    say(f"At {largest['members']:,} members the nightly run (the last, in steady state) takes "
        f"{nightly:.2f}x the bare NTILE statement (target <= {TARGET_RATIO:.0f}x): "
        f"{'met' if nightly <= TARGET_RATIO else 'NOT met'}"
        + (f"; the first run, which stages and segments everybody, "
           f"{largest['runs'][0]['ratio']:.2f}x." if runs > 1 else "."))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        say(f"Peak RSS of this process during the runs: {peak_of(small):.0f} MB at "
            f"{small['members']:,} members, {peak_of(large):.0f} MB at {large['members']:,} "
            f"(x{peak_of(large) / peak_of(small):.2f} for "
            f"x{large['members'] / small['members']:.0f} the members; flat would be x1.00)")
    names = list(dict.fromkeys(name for run in largest["runs"] for name in run["steps"]))
    if names:
        say(f"\nSteps at {largest['members']:,} members (seconds):")
        say(f"{'step':<28}" + "".join(f" {f'run {n + 1}':>9}" for n in range(runs)))
        for name in names:
            say(f"{name:<28}" + "".join(f" {run['steps'].get(name, float('nan')):>9.2f}"
                                        for run in largest["runs"]))


def peak_of(size: dict) -> float:
    return max(run["peak_rss_mb"] for run in size["runs"])


def migrated_database(*shown: str) -> tuple[str, dict]:
    """Django set up, the throwaway database migrated; its version and the server settings
    `shown` (besides the usual memory and parallelism ones), as said on the output."""
    import django

    django.setup()
    from django.core.management import call_command

    t = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    say(f"  migrate: {time.perf_counter() - t:.1f} s")
    version = sql_value("SHOW server_version")
    settings = {name: sql_value(f"SHOW {name}") for name in
                ("shared_buffers", "work_mem", "max_parallel_workers_per_gather", "jit",
                 *shown)}
    say(f"  PostgreSQL {version} ({', '.join(f'{k} {v}' for k, v in settings.items())})")
    return version, settings


def run(args) -> dict:
    version, settings = migrated_database("autovacuum")
    from django.db import connection
    from django.utils import timezone

    setup = set_up_programme()
    resettable = reset_peak_memory()
    if not resettable:
        say("  (the peak memory cannot be reset here: each figure is the peak since start)")
    # Whole seconds: the data are drawn back from this instant, the runs score at it.
    now = timezone.now().replace(microsecond=0)
    results = {"database": connection.vendor, "postgresql": version, "settings": settings,
               "now": now.isoformat(), "seed": args.seed, "per_member": args.per_member,
               "sizes": []}
    for number, members in enumerate(args.sizes):
        if number:
            reset_data()
        results["sizes"].append(measure_size(members=members, args=args, now=now,
                                             setup=setup, resettable=resettable))
    print_tables(results)
    return results


def git_commit() -> str | None:
    """The commit measured, with "+changes" when the working tree differs from it."""
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,  # noqa: S607
                                capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
                               cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if dirty.strip() else "")


def run_benchmark(args, *, name: str, title: str, run) -> int:
    """A benchmark's frame: a throwaway PostgreSQL database, the machine and commit
    stated, `run(args)` timed, its results saved in bench/results/<name>-<time>.json."""
    self_contained_environment()
    server = args.database_url or os.environ.get("DATABASE_URL", "").strip() or DEFAULT_SERVER
    os.environ["DATABASE_URL"] = server
    started = time.perf_counter()
    commit = git_commit()  # at the start: other work may commit while the bench runs
    with ThrowawayDatabase(keep=args.keep, name=getattr(args, "database_name", None)) as database:
        if database.pg is None:
            raise SystemExit(f"bench: the {title} benchmark needs PostgreSQL")
        say(f"{title.capitalize()} benchmark: {', '.join(f'{n:,}' for n in args.sizes)} "
            f"members, {args.per_member:g} purchases a member; {database.description}")
        say(f"  commit {commit}; Python {platform.python_version()}, {os.cpu_count()} "
            f"CPUs; load average {os.getloadavg()[0]:.1f} (the machine's other work shows in it)")
        results = run(args)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["python"] = platform.python_version()
    results["commit"] = commit
    say(f"\nTotal: {results['total_seconds']:.0f} s")
    if not args.no_save:
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(results, indent=2, default=str) + "\n")
        say(f"Saved {path.relative_to(ROOT)}")
    return 0


def main(argv=None) -> int:
    return run_benchmark(parse_args(argv), name="insight", title="insight", run=run)


if __name__ == "__main__":
    sys.exit(main())
