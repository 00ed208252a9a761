"""Scale benchmark of the points ledger: `make bench` (or `python bench/scale.py --help`).

It works on a throwaway database that it creates and drops itself: a new
database on the PostgreSQL server that DATABASE_URL names (your database is
never touched), or else a temporary SQLite file. It creates the tables with
`migrate`, then N members and their cards in bulk. Every point, from there on,
goes through the services, as in production:

  (a) record_purchase: a 3-line basket under 4 active spend rules and
      multipliers, one purchase for each member; purchases per second and
      queries per purchase;
  (b) a baseline measured in the same run: the least the same write can cost
      with the raw ORM (lock the member row, insert one PointsEntry, update the
      balance, in one transaction); every other figure is compared with it;
  (c) audit_ledger() on N members against N/10 members: the ratio shows
      whether the audit grows linearly with the ledger;
  (d) the nightly release/expiry path: ledger.members_with_due_points, then
      ledger.bring_member_up_to_date for each member found.

Results are printed as a table and saved as JSON in bench/results/.
There are no pass/fail thresholds: the figures are for reading.

The nightly jobs at a million members (release/expiry, tiers, check_ledger, each
against a bare statement) are bench/nightly.py, which `make bench` runs next.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import secrets
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=20_000,
                        help="members at full size, N (default 20000); the small size is N/10")
    parser.add_argument("--baseline-ops", type=int, default=5_000,
                        help="raw-ORM baseline writes to time (default 5000)")
    parser.add_argument("--due-members", type=int, default=3_000,
                        help="members brought up to date in each of the release and expiry "
                             "passes (default 3000)")
    parser.add_argument("--query-sample", type=int, default=100,
                        help="operations whose queries are counted (default 100)")
    parser.add_argument("--audit-repeats", type=int, default=3,
                        help="audits at each size; the fastest counts (default 3)")
    parser.add_argument("--seed", type=int, default=20_240_501)
    parser.add_argument("--keep", action="store_true",
                        help="keep the throwaway database and print where it is")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    if args.members < 100:
        parser.error("--members must be at least 100")
    return args


# --- The throwaway database -------------------------------------------------------------


class ThrowawayDatabase:
    """Points DATABASE_URL at a new, empty database before Django reads its settings."""

    def __init__(self, keep: bool = False, name: str | None = None):
        self.keep = keep
        self.name = name
        self.given = os.environ.get("DATABASE_URL", "").strip()
        self.tmpdir = None
        self.pg = None  # (connection kwargs for the server, name of the new database)
        self.description = ""

    def __enter__(self):
        if self.given:
            parts = urlsplit(self.given)
            if parts.scheme not in ("postgres", "postgresql", "pgsql", "psql"):
                raise SystemExit(f"bench: DATABASE_URL must be PostgreSQL, not {parts.scheme}")
            import psycopg

            name = self.name or f"loyalty_bench_{os.getpid()}_{int(time.time())}"
            server = {"host": parts.hostname or None, "port": parts.port or None,
                      "user": parts.username or None, "password": parts.password or None,
                      "dbname": "postgres"}
            with psycopg.connect(**server, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.pg = (server, name)
            url = urlunsplit(parts._replace(path=f"/{name}"))
            self.description = f"PostgreSQL, throwaway database {name} on {parts.hostname}"
        else:
            self.tmpdir = tempfile.mkdtemp(prefix="loyalty-bench-")
            path = Path(self.tmpdir) / "bench.sqlite3"
            url = f"sqlite:///{path}"
            self.description = f"SQLite, throwaway file {path}"
        os.environ["DATABASE_URL"] = url
        return self

    def __exit__(self, *exc):
        from django.db import connections

        connections.close_all()
        if self.keep:
            print(f"\nKept: {self.description} ({os.environ['DATABASE_URL']})")
            return False
        if self.pg is not None:
            import psycopg

            server, name = self.pg
            with psycopg.connect(**server, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        return False


# --- Measuring --------------------------------------------------------------------------


class Result:
    def __init__(self, name: str, count: int, seconds: float, queries: float | None = None):
        self.name, self.count, self.seconds, self.queries = name, count, seconds, queries

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")

    @property
    def ms_each(self) -> float:
        return 1000 * self.seconds / self.count

    def as_dict(self) -> dict:
        return {"count": self.count, "seconds": round(self.seconds, 4),
                "per_second": round(self.per_second, 1), "ms_each": round(self.ms_each, 3),
                "queries_each": None if self.queries is None else round(self.queries, 2)}


def say(message: str) -> None:
    print(message, flush=True)


def timed(label: str, fn, items) -> float:
    """Run fn on each item; print progress about every 10 seconds; return the seconds."""
    items = list(items)
    start = last = time.perf_counter()
    for done, item in enumerate(items, 1):
        fn(item)
        now = time.perf_counter()
        if now - last > 10:
            say(f"    {label}: {done}/{len(items)} ({done / (now - start):.0f}/s)")
            last = now
    return time.perf_counter() - start


def count_queries(fn, items) -> float:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    items = list(items)
    with CaptureQueriesContext(connection) as captured:
        for item in items:
            fn(item)
    return len(captured.captured_queries) / len(items)


# --- The programme ----------------------------------------------------------------------


def set_up_programme():
    from loyalty.models import EarningRule, Multiplier, Programme, Store, Tier

    programme = Programme.load()
    programme.return_window_days = 14
    programme.points_validity_days = 365
    programme.save()
    stores = [Store.objects.create(code="paris", name="Paris", kind=Store.Kind.IN_STORE),
              Store.objects.create(code="web", name="E-shop", kind=Store.Kind.ONLINE)]
    tiers = [Tier.objects.create(code="bronze", name="Bronze", rank=0, threshold=0),
             Tier.objects.create(code="silver", name="Silver", rank=1, threshold=500,
                                 earn_multiplier=Decimal("1.25")),
             Tier.objects.create(code="gold", name="Gold", rank=2, threshold=2000,
                                 earn_multiplier=Decimal("1.50"))]
    EarningRule.objects.create(name="1 point per euro", points_per_unit=1)
    EarningRule.objects.create(name="2 more points per euro on shoes", category="shoes",
                               points_per_unit=2, priority=10)
    Multiplier.objects.create(name="Double points on accessories", category="accessories",
                              factor=2)
    Multiplier.objects.create(name="Online orders", channel="online", factor=Decimal("1.5"))
    return stores, tiers[0]


def create_members(start: int, stop: int, tier) -> list[int]:
    """Members and their digital cards, in bulk (setup only: no points are written here)."""
    from loyalty.models import Card, Member
    from loyalty.services.cards import luhn_digit

    ids = []
    batch = 2_000
    for first in range(start, stop, batch):
        numbers = [str(100_000_000 + i) for i in range(first, min(first + batch, stop))]
        numbers = [body + luhn_digit(body) for body in numbers]
        members = Member.objects.bulk_create(
            Member(card_number=number, email=f"bench{number}@example.com",
                   first_name="Bench", last_name=number, tier=tier)
            for number in numbers)
        Card.objects.bulk_create(Card(member=member, number=member.card_number,
                                      kind=Card.Kind.DIGITAL) for member in members)
        ids += [member.pk for member in members]
    return ids


def basket(rng: random.Random) -> tuple[str, list[dict]]:
    items = [
        {"sku": f"SHOE-{rng.randint(1, 40)}", "category": "shoes", "quantity": 1,
         "unit_price": f"{rng.randint(3000, 12000) / 100:.2f}"},
        {"sku": f"SOCK-{rng.randint(1, 20)}", "category": "accessories",
         "quantity": rng.randint(1, 3), "unit_price": f"{rng.randint(300, 900) / 100:.2f}"},
        {"sku": f"BAG-{rng.randint(1, 10)}", "category": "bags", "quantity": 1,
         "unit_price": f"{rng.randint(1500, 6000) / 100:.2f}"},
    ]
    total = sum(Decimal(item["unit_price"]) * item["quantity"] for item in items)
    if rng.random() < 0.3:  # a discount: the lines are scaled down to what was paid
        total = (total * Decimal("0.9")).quantize(Decimal("0.01"))
    return f"{total:.2f}", items


def purchase_recorder(stores, rng: random.Random):
    from loyalty.models import Member
    from loyalty.services.purchases import record_purchase

    counter = iter(range(1, 10**9))

    def record(member_id: int):
        amount, items = basket(rng)
        store = stores[member_id % 2]
        # The caller (API, till page) holds a member it looked up; so does the bench.
        member = Member(pk=member_id)
        record_purchase(store=store, order_id=f"B-{next(counter)}", amount=amount,
                        member=member, items=items)

    return record


def baseline_writer(rng: random.Random):
    """The minimum of the same work with the raw ORM: lock, one entry, the balance."""
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from loyalty.models import Member, PointsEntry

    def write(member_id: int):
        points = rng.randint(50, 400)
        with transaction.atomic():
            member = (Member.objects.select_for_update()
                      .only("pk", "balance", "pending").get(pk=member_id))
            PointsEntry.objects.create(
                member=member, kind=PointsEntry.Kind.EARN, points=points,
                balance_after=member.balance + member.pending + points,
                reason="Baseline", reference="bench:baseline", created_at=timezone.now())
            Member.objects.filter(pk=member_id).update(balance=F("balance") + points)

    return write


def best_audit(repeats: int) -> tuple[float, object]:
    from loyalty.services.audit import audit_ledger

    best, report = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        report = audit_ledger()
        best = min(best, time.perf_counter() - start)
    if report.violations:
        raise SystemExit(f"bench: the ledger is not sound: {report.violations[:5]}")
    return best, report


# --- The run ----------------------------------------------------------------------------


def run(args) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from loyalty.services import ledger

    rng = random.Random(args.seed)
    n_full, n_small = args.members, max(args.members // 10, 10)
    results: dict = {"members": n_full, "database": connection.vendor}

    t = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    say(f"  migrate: {time.perf_counter() - t:.1f} s")
    stores, entry_tier = set_up_programme()
    record = purchase_recorder(stores, rng)

    # (c, small) N/10 members, one purchase each, then the audit.
    t = time.perf_counter()
    small_ids = create_members(0, n_small, entry_tier)
    say(f"  {n_small} members and cards (bulk): {time.perf_counter() - t:.1f} s")
    sample = min(args.query_sample, n_small)
    purchase_queries = count_queries(record, small_ids[:sample])
    seconds = timed("purchases", record, small_ids[sample:])
    say(f"  {n_small} purchases: {seconds:.1f} s")
    audit_small, _report = best_audit(args.audit_repeats)
    say(f"  audit_ledger at {n_small} members: {audit_small:.3f} s")

    # (a) The rest of the members, one purchase each: the timed purchases.
    t = time.perf_counter()
    big_ids = create_members(n_small, n_full, entry_tier)
    say(f"  {len(big_ids)} more members and cards (bulk): {time.perf_counter() - t:.1f} s")
    seconds = timed("purchases", record, big_ids)
    purchases = Result("record_purchase", len(big_ids), seconds, purchase_queries)
    say(f"  {len(big_ids)} purchases: {seconds:.1f} s")

    # (c, full) The audit at N.
    audit_full, report = best_audit(args.audit_repeats)
    say(f"  audit_ledger at {n_full} members: {audit_full:.3f} s "
        f"({report.entries} entries, {report.lots} lots)")

    # (d) The nightly path: who is due, then each member brought up to date.
    now = timezone.now()
    release_at, expire_at = now + timedelta(days=15), now + timedelta(days=366)
    t = time.perf_counter()
    due = sorted(set(ledger.members_with_due_points(now=release_at)))
    find_due = time.perf_counter() - t
    say(f"  members_with_due_points: {len(due)} of {n_full} in {find_due:.3f} s")
    chosen = rng.sample(due, min(args.due_members, len(due)))
    sample = min(args.query_sample, len(chosen))

    def release(member_id):
        ledger.bring_member_up_to_date(member_id=member_id, now=release_at)

    def expire(member_id):
        ledger.bring_member_up_to_date(member_id=member_id, now=expire_at)

    release_queries = count_queries(release, chosen[:sample])
    seconds = timed("release", release, chosen[sample:])
    releases = Result("bring_member_up_to_date (release)", len(chosen) - sample, seconds,
                      release_queries)
    expire_queries = count_queries(expire, chosen[:sample])
    seconds = timed("expire", expire, chosen[sample:])
    expiries = Result("bring_member_up_to_date (expire)", len(chosen) - sample, seconds,
                      expire_queries)
    say(f"  {len(chosen)} members released, then expired")

    # (b) The baseline, last: its bare entries have no lots, which the audit would flag.
    write = baseline_writer(rng)
    ids = small_ids + big_ids
    targets = [rng.choice(ids) for _ in range(args.baseline_ops)]
    sample = min(args.query_sample, len(targets) // 2)
    baseline_queries = count_queries(write, targets[:sample])
    seconds = timed("baseline", write, targets[sample:])
    baseline = Result("baseline: lock + entry + balance", len(targets) - sample, seconds,
                      baseline_queries)

    results.update({
        "baseline": baseline.as_dict(),
        "record_purchase": purchases.as_dict(),
        "release": releases.as_dict(),
        "expire": expiries.as_dict(),
        "members_with_due_points": {"seconds": round(find_due, 4), "found": len(due)},
        "audit": {"small_members": n_small, "small_seconds": round(audit_small, 4),
                  "full_members": n_full, "full_seconds": round(audit_full, 4),
                  "ratio": round(audit_full / audit_small, 2) if audit_small else None,
                  "entries": report.entries, "lots": report.lots},
    })
    print_table(baseline, [purchases, releases, expiries], results)
    return results


def print_table(baseline: Result, rows: list[Result], results: dict) -> None:
    say("")
    say(f"{'operation':<36} {'per second':>11} {'ms each':>9} {'queries':>8} {'× baseline':>11}")
    say("-" * 79)
    for row in [baseline, *rows]:
        queries = "-" if row.queries is None else f"{row.queries:.1f}"
        say(f"{row.name:<36} {row.per_second:>11,.0f} {row.ms_each:>9.2f} {queries:>8} "
            f"{row.ms_each / baseline.ms_each:>10.1f}×")
    say("-" * 79)
    audit = results["audit"]
    say(f"record_purchase / baseline throughput: "
        f"{results['record_purchase']['per_second'] / baseline.per_second:.2f}")
    say(f"audit_ledger: {audit['small_seconds']:.3f} s at {audit['small_members']:,} members, "
        f"{audit['full_seconds']:.3f} s at {audit['full_members']:,} "
        f"(×{audit['ratio']} for ×{audit['full_members'] / audit['small_members']:.0f} "
        f"the members; linear would be ×10)")
    due = results["members_with_due_points"]
    say(f"members_with_due_points: {due['found']:,} members due, found in "
        f"{due['seconds'] * 1000:.0f} ms")


def self_contained_environment() -> None:
    """A benchmark's own settings: no debug query log, no broker, quiet logs."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")
    os.environ["DEBUG"] = "0"
    # DEBUG off refuses the development key: a throwaway one, the same for every process.
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(60))
    os.environ["REDIS_URL"] = ""
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ["LOG_LEVEL"] = "WARNING"


def main(argv=None) -> int:
    args = parse_args(argv)
    self_contained_environment()
    started = time.perf_counter()
    with ThrowawayDatabase(keep=args.keep) as database:
        say(f"Scale benchmark: {args.members:,} members; {database.description}")
        say(f"  Python {platform.python_version()}, {os.cpu_count()} CPUs")
        results = run(args)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    results["python"] = platform.python_version()
    say(f"\nTotal: {results['total_seconds']:.0f} s")
    if not args.no_save:
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"scale-{results['database']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        say(f"Saved {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
