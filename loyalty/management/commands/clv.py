import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from loyalty.models import ClvFit, Programme
from loyalty.services.errors import DomainError
from loyalty.services.insight.clv import fit_and_score


def calibration_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("--calibration-end must be a date as YYYY-MM-DD, not %(value)r.")
                           % {"value": value}) from None


class Command(BaseCommand):
    # argparse needs plain strings: command help is not translated (as Django's own).
    help = ("Fit the BG/NBD and Gamma-Gamma models on purchases up to the calibration end, "
            "store each member's predicted lifetime value and print the fitted parameters "
            "as JSON on the last line.")

    def add_arguments(self, parser):
        parser.add_argument("--calibration-end", metavar="DATE",
                            help="Fit on purchases up to this day, YYYY-MM-DD (default: today).")

    def handle(self, *args, **options):
        end = options["calibration_end"]
        try:
            fit = fit_and_score(calibration_end=calibration_date(end) if end else None)
        except DomainError as error:
            raise CommandError(error.message) from error
        counts = {"customers": fit.customers, "repeat_customers": fit.repeat_customers}
        if fit.status == ClvFit.Status.OK:
            self.stdout.write(self.style.SUCCESS(
                _("Fitted on %(sample)d of %(customers)d customers (%(repeat)d repeat) up to "
                  "%(end)s; predicted value stored for %(members)d members.")
                % {"sample": fit.sample_size, "customers": fit.customers,
                   "repeat": fit.repeat_customers, "end": fit.calibration_end,
                   "members": fit.members_scored}))
        elif fit.status == ClvFit.Status.INSUFFICIENT:
            self.stdout.write(self.style.WARNING(
                _("Too little history to predict lifetime value: %(repeat)d repeat customers "
                  "up to %(end)s, at least %(needed)d needed. No prediction was stored.")
                % {"repeat": fit.repeat_customers, "end": fit.calibration_end,
                   "needed": Programme.load().clv_min_repeat_customers}))
        else:
            self.stdout.write(self.style.ERROR(
                _("The lifetime value models did not converge on the history up to %(end)s. "
                  "No prediction was stored.") % {"end": fit.calibration_end}))
        summary = {
            "bgnbd": {"r": fit.r, "alpha": fit.alpha, "a": fit.a, "b": fit.b},
            "gamma_gamma": {"p": fit.p, "q": fit.q, "v": fit.v},
            "members": fit.members_scored, "status": fit.status,
            "calibration_end": fit.calibration_end.isoformat(), **counts,
            "sample_size": fit.sample_size, "horizon_months": fit.horizon_months,
            "monthly_discount": str(fit.monthly_discount),
        }
        self.stdout.write(json.dumps(summary))

