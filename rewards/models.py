"""The reward catalogue, redemptions (points spent) and the vouchers they issue."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Reward(models.Model):
    """Something members spend points on. `name` and `description` are translated
    (rewards/translation.py: a column per language, the English one the fallback)."""

    class Kind(models.TextChoices):
        PERCENT = "percent_voucher", _("Percentage voucher")
        AMOUNT = "amount_voucher", _("Fixed-amount voucher")
        FREE_SHIPPING = "free_shipping", _("Free shipping")
        GIFT = "gift", _("Gift in store")
        EXPERIENCE = "experience", _("Experience or VIP access")

    class Period(models.TextChoices):
        DAY = "day", _("per day")
        WEEK = "week", _("per week")
        MONTH = "month", _("per month")
        YEAR = "year", _("per year")
        EVER = "ever", _("ever")

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    image = models.ImageField(_("image"), upload_to="rewards/", blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    value = models.DecimalField(
        _("value"), max_digits=12, decimal_places=2, default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Percent for a percentage voucher, an amount for a fixed-amount voucher."))
    points_cost = models.PositiveIntegerField(
        _("points cost"), validators=[MinValueValidator(1), MaxValueValidator(10_000_000)])
    tier_required = models.ForeignKey("loyalty.Tier", on_delete=models.PROTECT, null=True,
                                      blank=True, related_name="+",
                                      verbose_name=_("tier required"),
                                      help_text=_("Members of this tier or higher."))
    stock = models.PositiveIntegerField(_("stock left"), null=True, blank=True,
                                        help_text=_("Empty: unlimited."))
    limit_count = models.PositiveIntegerField(_("limit per member"), null=True, blank=True,
                                              validators=[MinValueValidator(1)])
    limit_period = models.CharField(_("limit period"), max_length=8, choices=Period.choices,
                                    default=Period.EVER)
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    stores = models.ManyToManyField("loyalty.Store", blank=True, related_name="rewards",
                                    verbose_name=_("usable in"),
                                    help_text=_("Empty: every store and the e-shop."))
    voucher_validity_days = models.PositiveIntegerField(
        _("voucher validity (days)"), default=60,
        validators=[MinValueValidator(1), MaxValueValidator(3650)])
    active = models.BooleanField(_("active"), default=True)
    position = models.IntegerField(_("position"), default=0)

    class Meta:
        ordering = ["position", "points_cost", "id"]
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")

    def __str__(self):
        return self.name

    def clean(self):
        if self.kind == self.Kind.PERCENT and not (0 < self.value <= 100):
            raise ValidationError({"value": _("A percentage between 0 and 100.")})
        if self.kind == self.Kind.AMOUNT and self.value <= 0:
            raise ValidationError({"value": _("A fixed-amount voucher needs an amount.")})
        if (self.available_from and self.available_until
                and self.available_until <= self.available_from):
            raise ValidationError({"available_until": _("The end must be after the start.")})


class Redemption(models.Model):
    """Points spent on a reward, once per redemption id."""

    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT,
                               related_name="redemptions")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", help_text="Where it was redeemed; empty: portal.")
    redemption_id = models.CharField(_("redemption id"), max_length=100)
    points_spent = models.BigIntegerField(_("points spent"))
    balance_after = models.BigIntegerField(_("balance after"))
    entry = models.OneToOneField("loyalty.PointsEntry", on_delete=models.PROTECT,
                                 related_name="redemption")
    fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        constraints = [
            models.UniqueConstraint(fields=["store", "redemption_id"],
                                    name="unique_redemption_per_store",
                                    condition=models.Q(store__isnull=False)),
            models.UniqueConstraint(fields=["redemption_id"], name="unique_portal_redemption",
                                    condition=models.Q(store__isnull=True)),
        ]
        indexes = [models.Index(fields=["member", "reward", "created_at"],
                                name="redemption_limit")]

    def __str__(self):
        return self.redemption_id


class Voucher(models.Model):
    """A code good for a reward's value, at the till and online.

    Bought with points (`source` redemption: it has its Redemption and ledger
    entry) or granted without points by a journey or a campaign (`source`
    journey or campaign: no redemption, no entry, and an `occasion_key` that
    names why it was given, once: `win_back:42`, `campaign:3:17`). Either way
    it is checked, used and expired alike.
    """

    class Source(models.TextChoices):
        REDEMPTION = "redemption", _("Bought with points")
        JOURNEY = "journey", _("Given by a journey")
        CAMPAIGN = "campaign", _("Given by a campaign")

    class Status(models.TextChoices):
        ISSUED = "issued", _("Ready to use")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    code = models.CharField(_("code"), max_length=16, unique=True)
    redemption = models.OneToOneField(Redemption, on_delete=models.PROTECT, null=True,
                                      blank=True, related_name="voucher")
    source = models.CharField(_("source"), max_length=12, choices=Source.choices,
                              default=Source.REDEMPTION)
    occasion_key = models.CharField(
        _("occasion"), max_length=120, null=True, blank=True, unique=True,
        help_text=_("Why a voucher was given without points, e.g. win_back:42: once each."))
    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT,
                               related_name="vouchers")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="vouchers")
    # What was bought, frozen: editing the reward later never changes an issued voucher.
    kind = models.CharField(_("kind"), max_length=20, choices=Reward.Kind.choices)
    value = models.DecimalField(_("value"), max_digits=12, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.ISSUED)
    issued_at = models.DateTimeField(_("issued at"))
    expires_at = models.DateTimeField(_("expires at"), db_index=True)
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_order_id = models.CharField(_("used for order"), max_length=100, blank=True)
    used_store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+", verbose_name=_("used in"))
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        constraints = [
            # Bought: a redemption and no occasion; given: an occasion and no redemption.
            models.CheckConstraint(
                condition=(models.Q(source="redemption", redemption__isnull=False,
                                    occasion_key__isnull=True)
                           | (~models.Q(source="redemption") & models.Q(
                               redemption__isnull=True, occasion_key__isnull=False))),
                name="voucher_bought_or_given"),
        ]

    def __str__(self):
        return self.formatted_code

    @property
    def bought(self) -> bool:
        """Bought with points (cancelling it gives them back); else given."""
        return self.redemption_id is not None

    @property
    def formatted_code(self) -> str:
        return "-".join(self.code[i:i + 4] for i in range(0, len(self.code), 4))
