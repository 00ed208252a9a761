import logging
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils.translation import gettext as _

from loyalty.models import ClvFit
from loyalty.services.demo import (
    DEFAULT_MEMBERS,
    DEFAULT_SEED,
    DemoLedgerUnsound,
    seed_demo,
)
from loyalty.services.demo.messages import DAYS
from loyalty.services.errors import DomainError


@contextmanager
def _quiet(name: str):
    """Without a logger's INFO lines: the tasks the load hands over run in-process without a
    broker, and each would print "Task … succeeded" among the progress lines."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


class Command(BaseCommand):
    # argparse needs plain strings: command help is not translated (as Django's own).
    help = (
        "Create a complete demo programme: stores, points scale, tiers, members, two years of "
        "purchases and three logins. Re-running it adds nothing twice.")

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, default=DEFAULT_MEMBERS,
                            help="How many members to create (default %(default)s).")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                            help="Random seed (default %(default)s).")
        parser.add_argument("--force", action="store_true",
                            help="Run even with DEBUG off (its logins cannot log in there).")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            # Its logins have a published password: not on a production database by mistake.
            raise CommandError(_("DEBUG is off: this looks like production, and the demo "
                                 "creates logins with a published password. Run it with "
                                 "DEBUG=1, or add --force."))
        verbose = options["verbosity"] >= 1
        try:
            # Without DEBUG's query log: it keeps every statement in connection.queries and,
            # on SQLite, runs one more (a QUOTE()) to print each; a fifth of the load's time.
            with override_settings(DEBUG=False), _quiet("celery.app.trace"):
                summary = seed_demo(members=options["members"], seed=options["seed"],
                                    stdout=self.stdout if verbose else None)
        except DomainError as error:
            raise CommandError(f"{error.message} {error.fields}") from error
        except DemoLedgerUnsound as error:
            for violation in error.violations:
                self.stderr.write(f"VIOLATION {violation}")
            raise CommandError(_("The ledger audit found violations in the demo history; "
                                 "nothing was kept.")) from error
        if summary["created"]:
            self.stdout.write(self.style.SUCCESS(
                _("Demo programme created in %(seconds)s s.") % summary))
        else:
            self.stdout.write(self.style.SUCCESS(
                _("The demo programme already exists: nothing was added; its settings and "
                  "logins were checked.")))
        kinds = ", ".join(f"{kind} {count}" for kind, count
                          in sorted(summary["entries_by_kind"].items()))
        tiers = ", ".join(f"{name} {count}" for name, count
                          in summary["members_per_tier"].items())
        lines = [
            _("Stores: %(stores)d") % summary,
            _("Members: %(members)d active, %(merged_members)d merged") % summary,
            _("Purchases: %(purchases)d, refunds: %(refunds)d, actions: %(actions)d") % summary,
            _("Ledger entries: %(entries)d (%(kinds)s)") % {**summary, "kinds": kinds},
            _("Tier changes: %(tier_changes)d; members per tier: %(tiers)s") % {
                **summary, "tiers": tiers},
            *self._shop_history_lines(summary["shop_history"]),
            *self._insight_lines(summary["insight"]),
            *self._message_lines(summary.get("messages")),
            _("Ledger audit: %(result)s") % {
                "result": _("no violations") if summary["ledger_ok"] else _("%(n)d violations")
                % {"n": len(summary["violations"])}},
            "",
            _("Logins (password for all: %(password)s):") % {
                "password": summary["logins"][0][2]},
        ]
        lines += [f"  {role:<18} {email} / {password}"
                  for role, email, password in summary["logins"]]
        for line in lines:
            self.stdout.write(line)
        if not summary["ledger_ok"]:
            for violation in summary["violations"]:
                self.stderr.write(f"VIOLATION {violation}")
            raise CommandError(_("The ledger audit found violations."))

    @staticmethod
    def _shop_history_lines(history) -> list[str]:
        if history is None:
            return []
        return [_("E-shop history imported (no points): %(purchases_added)d orders of "
                  "%(members_created)d past customers") % history]

    @staticmethod
    def _message_lines(fired: dict | None) -> list[str]:
        if not fired:
            return []
        return [_("Messages: %(count)d fired by the journeys over the last %(days)d days "
                  "(%(kinds)s)") % {"count": sum(fired.values()), "days": DAYS,
                                    "kinds": ", ".join(f"{kind} {n}" for kind, n
                                                       in sorted(fired.items()) if n)}]

    @staticmethod
    def _insight_lines(insight: dict | None) -> list[str]:
        if insight is None:
            return []
        segments = ", ".join(f"{code} {count}" for code, count in insight["segments"].items()
                             if count)
        lines = [_("Insight: %(members)d members; segments: %(segments)s") % {
            "members": insight["members"], "segments": segments or "-"}]
        if insight.get("clv"):
            status = dict(ClvFit.Status.choices).get(insight["clv"], insight["clv"])
            lines.append(_("Lifetime value: %(status)s") % {"status": status})
        return lines
