from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", _("Enter a colour as # and six hexadecimal "
                                                    "digits, e.g. #0b5394."), code="invalid")
DEFAULT_PRIMARY_COLOUR = "#0b5394"


class Programme(models.Model):
    """The programme-wide settings: one row, edited by programme admins.

    Changing them never touches points already earned: each lot keeps the
    pending and expiry dates it was given, each purchase the breakdown it earned.
    """

    class TierBasis(models.TextChoices):
        POINTS = "points", _("Qualifying points earned in the window")
        SPEND = "spend", _("Net spend in the window")

    name = models.CharField(_("name"), max_length=100, default="Loyalty programme")
    currency = models.CharField(_("currency"), max_length=3, default="EUR")

    # --- The shop's brand: the portal, the card, the installed app and the emails --------
    logo = models.ImageField(
        _("logo"), upload_to="brand/", blank=True,
        help_text=_("Square works best (the app icon is made from the colour and the name's "
                    "initials when there is none)."))
    primary_colour = models.CharField(
        _("primary colour"), max_length=7, default=DEFAULT_PRIMARY_COLOUR,
        validators=[HEX_COLOUR],
        help_text=_("The header, buttons and card. Text on it is black or white, whichever "
                    "reads better."))
    point_name = models.CharField(_("point name (one)"), max_length=30, default="point",
                                  help_text=_("e.g. point, star."))
    point_name_plural = models.CharField(_("point name (several)"), max_length=30,
                                         default="points", help_text=_("e.g. points, stars."))
    points_validity_days = models.PositiveIntegerField(
        _("points validity (days)"), default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Points expire this many days after the purchase that earned them."))
    return_window_days = models.PositiveIntegerField(
        _("return window (days)"), default=14, validators=[MaxValueValidator(365)],
        help_text=_("Points from a purchase stay pending, not spendable, for this long."))
    max_points_per_purchase = models.PositiveIntegerField(
        _("cap per purchase"), null=True, blank=True,
        help_text=_("The most points one purchase can earn. Empty: no cap."))
    max_points_per_day = models.PositiveIntegerField(
        _("cap per day"), null=True, blank=True,
        help_text=_("The most points a member can earn from purchases in one day. Empty: no cap."))
    tier_basis = models.CharField(_("tier basis"), max_length=8, choices=TierBasis.choices,
                                  default=TierBasis.POINTS)
    tier_window_days = models.PositiveIntegerField(
        _("tier window (days)"), default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("Tiers are computed over this rolling window."))
    actions_qualify_for_tiers = models.BooleanField(
        _("action points count towards tiers"), default=False,
        help_text=_("If off, only points earned by purchases count towards tiers."))
    review_follow_up_rating = models.PositiveSmallIntegerField(
        _("reviews needing a follow-up: rating at most"), default=2,
        validators=[MinValueValidator(0), MaxValueValidator(5)],
        help_text=_("A review rated this or lower shows on the store manager's page as "
                    "needing a follow-up. 0: none does."))

    # --- Insight: how customers are scored, staged and valued -------------------------
    point_value = models.DecimalField(
        _("value of one point"), max_digits=8, decimal_places=4, default=Decimal("0.0100"),
        validators=[MinValueValidator(0)],
        help_text=_("What one point costs the shop when redeemed, in the programme's "
                    "currency: used for the points liability."))
    rfm_window_days = models.PositiveIntegerField(
        _("RFM window (days)"), default=365,
        validators=[MinValueValidator(30), MaxValueValidator(3650)],
        help_text=_("Frequency and monetary value count the purchases of this many days."))
    new_customer_days = models.PositiveIntegerField(
        _("a customer is new for (days)"), default=90,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
        help_text=_("After their first purchase."))
    lapsed_after_days = models.PositiveIntegerField(
        _("lapsed after (days without a purchase)"), default=365,
        validators=[MinValueValidator(30), MaxValueValidator(3650)])
    at_risk_gap_factor = models.DecimalField(
        _("at risk after (× their usual gap)"), max_digits=4, decimal_places=2,
        default=Decimal("2.00"), validators=[MinValueValidator(1)],
        help_text=_("A repeat customer is at risk once the time since their last purchase "
                    "passes their usual time between purchases times this factor."))
    at_risk_p_alive = models.DecimalField(
        _("at risk below this probability of being active"), max_digits=3, decimal_places=2,
        default=Decimal("0.30"), validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text=_("From the lifetime value model, when it could be fitted."))
    clv_horizon_months = models.PositiveSmallIntegerField(
        _("lifetime value horizon (months)"), default=12,
        validators=[MinValueValidator(1), MaxValueValidator(120)])
    clv_monthly_discount = models.DecimalField(
        _("monthly discount rate"), max_digits=5, decimal_places=4, default=Decimal("0.0100"),
        validators=[MinValueValidator(0), MaxValueValidator(Decimal("0.5"))],
        help_text=_("0.0100 = 1% a month: future spend is worth less than spend today."))
    clv_min_repeat_customers = models.PositiveIntegerField(
        _("fewest repeat customers to predict value"), default=200,
        validators=[MinValueValidator(20)],
        help_text=_("Below this, the model is not fitted and no prediction is shown."))

    class Meta:
        verbose_name = _("programme settings")
        verbose_name_plural = _("programme settings")
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="single_programme")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    def clean(self):
        if self.primary_colour:
            self.primary_colour = self.primary_colour.lower()
        if self.return_window_days >= self.points_validity_days:
            raise ValidationError(
                {"return_window_days": _("The return window must be shorter than the "
                                         "points validity.")})

    def points_label(self, count: int) -> str:
        """The programme's word for `count` points: "1 star", "12 stars"."""
        return self.point_name if abs(count) == 1 else self.point_name_plural

    @classmethod
    def load(cls) -> "Programme":
        programme, _created = cls.objects.get_or_create(pk=1)
        return programme
