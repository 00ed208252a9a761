from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty.models.programme import HEX_COLOUR


class Tier(models.Model):
    """A status level. A member is in the highest tier whose threshold they reach."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=60)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True,
                                            help_text=_("0 is the entry tier; higher is better."))
    threshold = models.DecimalField(
        _("threshold"), max_digits=12, decimal_places=2, default=0,
        validators=[MinValueValidator(0)],
        help_text=_("Qualifying points (or spend) needed over the tier window."))
    earn_multiplier = models.DecimalField(
        _("earn multiplier"), max_digits=4, decimal_places=2, default=1,
        validators=[MinValueValidator(1)],
        help_text=_("1.00 = no bonus; 1.50 = 50% more points on purchases."))
    benefits = models.TextField(_("benefits"), blank=True, help_text=_("One per line."))
    colour = models.CharField(
        _("colour"), max_length=7, blank=True,
        validators=[HEX_COLOUR],
        help_text=_("The member's card in this tier. Empty: the programme's colour."))

    class Meta:
        ordering = ["rank"]
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")

    def __str__(self):
        return self.name

    def clean(self):
        """Thresholds rise with rank: a higher tier below a lower one's threshold would lift
        members straight past the tiers between (a rank-4 tier at 100 points took Bronze
        members there). Equal thresholds would leave the lower tier unreachable."""
        if self.rank is None or self.threshold is None:
            return
        others = Tier.objects.exclude(pk=self.pk)
        below = others.filter(rank__lt=self.rank, threshold__gte=self.threshold).order_by(
            "-threshold", "-rank").first()
        if below is not None:
            raise ValidationError({"threshold": gettext(
                "Thresholds must rise with rank: this tier (rank %(rank)s) needs a threshold "
                "above %(other)s's (rank %(other_rank)s, %(threshold)s).") % {
                "rank": self.rank, "other": below.name, "other_rank": below.rank,
                "threshold": formats.number_format(below.threshold, 0, use_l10n=True,
                                                force_grouping=True)}})
        above = others.filter(rank__gt=self.rank, threshold__lte=self.threshold).order_by(
            "threshold", "rank").first()
        if above is not None:
            raise ValidationError({"threshold": gettext(
                "Thresholds must rise with rank: this tier (rank %(rank)s) needs a threshold "
                "below %(other)s's (rank %(other_rank)s, %(threshold)s).") % {
                "rank": self.rank, "other": above.name, "other_rank": above.rank,
                "threshold": formats.number_format(above.threshold, 0, use_l10n=True,
                                                force_grouping=True)}})

    @property
    def benefit_list(self) -> list[str]:
        return [line.strip() for line in self.benefits.splitlines() if line.strip()]


class TierChange(models.Model):
    """A member's tier history."""

    class Reason(models.TextChoices):
        PROMOTION = "promotion", _("Promotion")
        REEVALUATION = "reevaluation", _("Re-evaluation")
        MERGE = "merge", _("Merge")
        MANUAL = "manual", _("Set by staff")

    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE,
                               related_name="tier_changes")
    # A deleted tier leaves its history (its members were moved first, each move a row).
    from_tier = models.ForeignKey(Tier, on_delete=models.SET_NULL, null=True, blank=True,
                                  related_name="+")
    to_tier = models.ForeignKey(Tier, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    qualifying_value = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                           blank=True, related_name="+")
    at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("tier change")
        verbose_name_plural = _("tier history")

    def __str__(self):
        return f"{self.from_tier or '-'} → {self.to_tier or '-'} ({self.get_reason_display()})"
