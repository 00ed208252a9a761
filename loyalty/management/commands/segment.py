import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from loyalty.models import ClvFit, Segment, Stage
from loyalty.services.errors import DomainError
from loyalty.services.insight import run_insight


class Command(BaseCommand):
    # argparse needs plain strings: command help is not translated (as Django's own).
    help = (
        "Recompute every member's RFM scores, lifetime value, lifecycle stage and segment "
        "(what the nightly job does). Prints a summary, then on its last line the JSON "
        '{"members": N, "segments": {code: count}, "stages": {stage: count}}.')

    def add_arguments(self, parser):
        parser.add_argument("--without-clv", action="store_true",
                            help="Keep the lifetime values of the last fit (faster).")

    def handle(self, *args, **options):
        try:
            run = run_insight(with_clv=not options["without_clv"])
        except DomainError as error:
            raise CommandError(error.message) from error
        summary = run.summary
        names = dict(Segment.objects.values_list("code", "name"))
        stages = dict(Stage.choices)
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(_("%(members)d members scored in %(seconds).1f s.") % {
            "members": run.members, "seconds": seconds})
        self.stdout.write(_("Segments:"))
        for code, count in sorted(summary["segments"].items(), key=lambda item: -item[1]):
            self.stdout.write(f"  {names.get(code, code):<24} {count:>8}")
        unsegmented = run.members - sum(summary["segments"].values())
        no_segment = _("(no segment)")
        self.stdout.write(f"  {no_segment:<24} {unsegmented:>8}")
        self.stdout.write(_("Lifecycle stages:"))
        for stage, count in summary["stages"].items():
            self.stdout.write(f"  {stages.get(stage, stage)!s:<24} {count:>8}")
        if summary.get("clv"):
            status = dict(ClvFit.Status.choices).get(summary["clv"], summary["clv"])
            self.stdout.write(_("Lifetime value: %(status)s") % {"status": status})
        # The contract's last line: segments by code, the stable name of a segment.
        self.stdout.write(json.dumps({"members": run.members, "segments": summary["segments"],
                                      "stages": summary["stages"]}))
