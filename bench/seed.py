"""The demo's load, as `make run` does it, against a baseline measured in the same run:
`make bench` (alone: `make bench-seed`, or `python bench/seed.py --help`).

On a throwaway database (as bench/scale.py: a new database on the PostgreSQL server that
DATABASE_URL names, else a temporary SQLite file), migrated first:

  (a) `manage.py seed_demo` with its defaults (what `make run` loads): seconds, CPU
      seconds and queries;
  (b) checks that the demo is still whole, as `make run` needs it: created, the ledger
      audit clean, the journeys' messages both sent and held back (suppressed), the
      insight computed (scores, segments, a fitted lifetime value model), and a second
      run adding nothing; any failure ends the benchmark with an error;
  (c) a baseline: the least a ledger write can cost with the raw ORM (bench/scale.py's:
      lock the member row, insert one entry, update the balance, in one transaction),
      once for each ledger entry the demo wrote, on the demo's members. The load is
      reported as a ratio to it, which stays comparable from one machine to another.

Results are printed and saved as JSON in bench/results/. There are no pass/fail
thresholds on time: the figures are for reading.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import time
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scale import ThrowawayDatabase, baseline_writer, say  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=None,
                        help="members of the demo (default: seed_demo's own, as make run)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the throwaway database and print where it is")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    return parser.parse_args(argv)


class QueryCounter:
    """Counts statements without DEBUG's query log (which would slow them down)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def load(options: dict) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import override_settings

    counter = QueryCounter()
    out = StringIO()
    started, cpu = time.perf_counter(), time.process_time()
    # Today's emails kept in memory rather than printed (the console backend) amid the table.
    with (connection.execute_wrapper(counter),
          override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend")):
        call_command("seed_demo", stdout=out, **options)
    return {"seconds": round(time.perf_counter() - started, 2),
            "cpu_seconds": round(time.process_time() - cpu, 2), "queries": counter.count,
            "output": out.getvalue()}


def contents() -> dict:
    from django.apps import apps

    return {model._meta.label: model._default_manager.count() for model in apps.get_models()
            if model._meta.app_label in {"loyalty", "rewards", "accounts"}}


def check(first: dict, counts: dict, again: dict, counts_again: dict) -> list[str]:
    """What `make run` needs of the demo; an empty list when all holds."""
    from loyalty.models import ClvFit, InsightRun, MemberInsight, Message
    from loyalty.services.audit import audit_ledger

    problems = []
    if "Demo programme created" not in first["output"]:
        problems.append("the first run did not create the demo")
    report = audit_ledger()
    if not report.ok:
        problems.append(f"ledger audit: {report.violations[:3]}")
    for status in (Message.Status.SENT, Message.Status.SUPPRESSED):
        if not Message.objects.filter(status=status).exists():
            problems.append(f"no {status} message from the journeys' replay")
    if not (InsightRun.objects.exists() and MemberInsight.objects.filter(
            segment__isnull=False).exists()):
        problems.append("the insight was not computed")
    if not ClvFit.objects.filter(status=ClvFit.Status.OK).exists():
        problems.append("the lifetime value model was not fitted")
    if "already exists" not in again["output"]:
        problems.append("the second run did not find the demo")
    added = {label: (counts[label], n) for label, n in counts_again.items()
             if n != counts[label]}
    if added:
        problems.append(f"the second run changed row counts: {added}")
    return problems


def baseline(entries: int) -> tuple[float, float]:
    """Seconds and CPU seconds of `entries` baseline writes, in one transaction as the demo
    is written (each write's own transaction a savepoint in it, as each service's is)."""
    from django.db import transaction

    from loyalty.models import Member

    ids = list(Member.objects.filter(status=Member.Status.ACTIVE).values_list("pk", flat=True))
    write = baseline_writer(random.Random(2024))
    started, cpu = time.perf_counter(), time.process_time()
    with transaction.atomic():
        for index in range(entries):
            write(ids[index % len(ids)])
    return time.perf_counter() - started, time.process_time() - cpu


def run(args) -> dict:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from loyalty.models import PointsEntry

    call_command("migrate", verbosity=0)
    options = {} if args.members is None else {"members": args.members}
    say("seed_demo, first run (what make run loads)…")
    first = load(options)
    counts = contents()
    say(f"  {first['seconds']:.1f} s, {first['cpu_seconds']:.1f} s of CPU, "
        f"{first['queries']:,} queries")
    say("seed_demo, second run (adds nothing)…")
    again = load(options)
    problems = check(first, counts, again, contents())
    for problem in problems:
        say(f"  WRONG: {problem}")
    entries = PointsEntry.objects.count()
    say(f"Baseline: {entries:,} raw-ORM ledger writes…")
    bare, bare_cpu = baseline(entries)
    ratio = first["seconds"] / bare if bare else float("inf")
    cpu_ratio = first["cpu_seconds"] / bare_cpu if bare_cpu else float("inf")
    say(f"\n{'':<28}{'seconds':>9}{'CPU s':>8}{'queries':>10}")
    say(f"{'seed_demo (first run)':<28}{first['seconds']:>9.1f}{first['cpu_seconds']:>8.1f}"
        f"{first['queries']:>10,}")
    say(f"{'seed_demo (second run)':<28}{again['seconds']:>9.1f}{again['cpu_seconds']:>8.1f}"
        f"{again['queries']:>10,}")
    say(f"{'baseline ledger writes':<28}{bare:>9.1f}{bare_cpu:>8.1f}{entries * 3:>10,}")
    say(f"seed_demo / baseline: {ratio:.2f}x ({cpu_ratio:.2f}x in CPU; {entries:,} ledger entries, "
        f"{counts['loyalty.Purchase']:,} purchases, {counts['loyalty.Member']:,} members)")
    return {"database": connection.vendor, "entries": entries, "counts": counts,
            "first": {k: v for k, v in first.items() if k != "output"},
            "second": {k: v for k, v in again.items() if k != "output"},
            "baseline_seconds": round(bare, 2), "baseline_cpu_seconds": round(bare_cpu, 2),
            "ratio": round(ratio, 2), "cpu_ratio": round(cpu_ratio, 2),
            "problems": problems}


def main(argv=None) -> int:
    args = parse_args(argv)
    with ThrowawayDatabase(keep=args.keep) as database:
        say(f"Database: {database.description}")
        results = run(args)
    results["python"] = platform.python_version()
    if not args.no_save:
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        path = out / f"seed-{results['database']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        path.write_text(json.dumps(results, indent=2) + "\n")
        say(f"Saved {path.relative_to(ROOT)}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
