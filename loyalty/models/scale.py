"""The points scale: how purchases and actions earn points. Staff edit it in the admin.

A purchase is evaluated line by line. For each line, the active spend rules
that match it are taken by priority (highest first); a rule that does not
stack stops the rules below it for that line. Multipliers then add their bonus
to the points of the lines they match, the same way. What a purchase earned is
stored with it, so changing the scale never rewrites the past.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

WEEKDAYS = "1234567"  # ISO weekdays, Monday = 1


class ScaleRuleBase(models.Model):
    name = models.CharField(
        _("name"), max_length=100,
        help_text=_("A title, e.g. “Black Friday”. Members read what the rule does written "
                    "from its numbers, dates, store and channel under it."))
    active = models.BooleanField(_("active"), default=True)
    priority = models.IntegerField(_("priority"), default=0,
                                   help_text=_("Higher priorities are applied first."))
    stackable = models.BooleanField(
        _("stacks"), default=True,
        help_text=_("If off, no lower-priority rule applies to what this one matched."))
    store = models.ForeignKey("loyalty.Store", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="+", verbose_name=_("only in store"))
    channel = models.CharField(_("only on channel"), max_length=16, blank=True,
                               choices=[("in_store", _("In store")), ("online", _("Online"))])
    category = models.CharField(_("only for category"), max_length=100, blank=True)
    sku = models.CharField(_("only for SKU"), max_length=100, blank=True)
    starts_at = models.DateTimeField(_("from"), null=True, blank=True)
    ends_at = models.DateTimeField(_("until"), null=True, blank=True)
    weekdays = models.CharField(
        _("weekdays"), max_length=7, blank=True,
        validators=[RegexValidator(r"^[1-7]*$", _("Digits 1 (Monday) to 7 (Sunday)."))],
        help_text=_("Digits 1 (Monday) to 7 (Sunday), e.g. 67 for weekends. Empty: every day."))

    class Meta:
        abstract = True
        ordering = ["-priority", "id"]

    def __str__(self):
        return self.name

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": _("The end must be after the start.")})
        if self.category and self.sku:
            raise ValidationError({"sku": _("Filter on a category or a SKU, not both.")})

    def matches_purchase(self, *, store, occurred_at) -> bool:
        """Purchase-level conditions: store, channel, dates, weekday."""
        if self.store_id and self.store_id != store.pk:
            return False
        if self.channel and self.channel != store.kind:
            return False
        if self.starts_at and occurred_at < self.starts_at:
            return False
        if self.ends_at and occurred_at >= self.ends_at:
            return False
        if self.weekdays:
            from django.utils import timezone

            weekday = str(timezone.localtime(occurred_at).isoweekday())
            if weekday not in self.weekdays:
                return False
        return True

    def matches_line(self, line) -> bool:
        if self.sku:
            return line.sku == self.sku
        if self.category:
            return (line.category or "").lower() == self.category.lower()
        return True


class EarningRule(ScaleRuleBase):
    """Points per amount spent, e.g. 1 point per euro, 3 per euro on shoes."""

    points_per_unit = models.DecimalField(
        _("points per unit of currency"), max_digits=8, decimal_places=4,
        validators=[MinValueValidator(Decimal("0"))])
    min_basket = models.DecimalField(_("minimum basket"), max_digits=12, decimal_places=2,
                                     null=True, blank=True,
                                     validators=[MinValueValidator(Decimal("0"))])
    max_points = models.PositiveIntegerField(_("cap per purchase for this rule"), null=True,
                                             blank=True)

    class Meta(ScaleRuleBase.Meta):
        verbose_name = _("spend rule")
        verbose_name_plural = _("spend rules")


class Multiplier(ScaleRuleBase):
    """A bonus on purchase points: double points weekend, ×3 on a category, Gold ×2 …"""

    factor = models.DecimalField(
        _("factor"), max_digits=5, decimal_places=2,
        validators=[MinValueValidator(Decimal("1.01")), MaxValueValidator(Decimal("100"))],
        help_text=_("2.00 doubles the points of what it matches."))
    tier = models.ForeignKey("loyalty.Tier", on_delete=models.CASCADE, null=True, blank=True,
                             related_name="+", verbose_name=_("only for tier"))
    # A campaign's offer: only the members of its sent group earn it (never the holdout).
    campaign = models.ForeignKey("loyalty.Campaign", on_delete=models.CASCADE, null=True,
                                 blank=True, related_name="multipliers",
                                 verbose_name=_("only for the sent group of campaign"))

    class Meta(ScaleRuleBase.Meta):
        verbose_name = _("multiplier")
        verbose_name_plural = _("multipliers")


class ActionRule(models.Model):
    """Points for an action: newsletter sign-up, a review, a referral, a birthday."""

    class Period(models.TextChoices):
        DAY = "day", _("per day")
        WEEK = "week", _("per week")
        MONTH = "month", _("per month")
        YEAR = "year", _("per year")
        EVER = "ever", _("ever")

    event_type = models.SlugField(_("event type"), max_length=50, unique=True,
                                  help_text=_("e.g. newsletter_signup, review_posted"))
    name = models.CharField(_("name"), max_length=100)
    points = models.PositiveIntegerField(_("points"), validators=[MaxValueValidator(1_000_000)])
    limit_count = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, validators=[MinValueValidator(1)],
        help_text=_("How many times a member can earn it in the period. Empty: no limit."))
    limit_period = models.CharField(_("limit period"), max_length=8, choices=Period.choices,
                                    default=Period.EVER)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["event_type"]
        verbose_name = _("action rule")
        verbose_name_plural = _("action rules")

    def __str__(self):
        return f"{self.name} ({self.event_type})"
