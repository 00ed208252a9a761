import json

from django.core.management.base import BaseCommand

from loyalty.services.audit import audit_ledger


class Command(BaseCommand):
    help = "Verify every invariant of the points ledger; exit status 1 on any violation."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100,
                            help="Report at most this many violations.")

    def handle(self, *args, **options):
        report = audit_ledger(limit=options["limit"])
        for violation in report.violations:
            self.stderr.write(f"VIOLATION {violation}")
        summary = {"ok": report.ok, "members": report.members, "entries": report.entries,
                   "lots": report.lots, "outstanding_points": report.outstanding_points,
                   "violations": len(report.violations)}
        self.stdout.write(json.dumps(summary))
        if not report.ok:
            raise SystemExit(1)
