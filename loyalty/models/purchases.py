from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Purchase(models.Model):
    """An order from a till or the e-shop, and what it earned, frozen when it was earned."""

    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, related_name="purchases",
                              verbose_name=_("store"))
    order_id = models.CharField(_("order id"), max_length=100)
    # Null for a sale recorded without a member: its receipt's claim code (ReceiptClaim)
    # lets the customer make it theirs later.
    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT, null=True,
                               blank=True, related_name="purchases", verbose_name=_("member"))
    amount = models.DecimalField(_("amount paid"), max_digits=12, decimal_places=2,
                                 validators=[MinValueValidator(0)])
    occurred_at = models.DateTimeField(_("occurred at"))
    points_earned = models.BigIntegerField(_("points earned"), default=0)
    points_breakdown = models.JSONField(_("points breakdown"), default=list)
    points_reversed = models.BigIntegerField(_("points reversed by refunds"), default=0)
    refunded_amount = models.DecimalField(_("refunded"), max_digits=12, decimal_places=2,
                                          default=0)
    balance_after = models.BigIntegerField(_("spendable balance after"), default=0)
    entry = models.OneToOneField("loyalty.PointsEntry", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="purchase")
    fingerprint = models.CharField(max_length=64, editable=False,
                                   help_text="Hash of the content: a retry or a conflict?")
    # Who recorded it at the till (None: the API, an import, the e-shop).
    cashier = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="+", verbose_name=_("cashier"))
    created_at = models.DateTimeField(_("recorded at"))

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        constraints = [models.UniqueConstraint(fields=["store", "order_id"],
                                               name="unique_order_per_store")]
        indexes = [models.Index(fields=["member", "occurred_at"], name="purchase_member_time")]

    def __str__(self):
        return f"{self.store.code}/{self.order_id}"

    @property
    def refundable_amount(self):
        return self.amount - self.refunded_amount


class ReceiptClaim(models.Model):
    """The claim code printed on the receipt of a sale recorded without a member.

    The code is derived from the store's claim secret (see loyalty.services.claims):
    the row lets a typed short code be found, and records who claimed it, once.
    """

    purchase = models.OneToOneField(Purchase, on_delete=models.CASCADE, related_name="claim",
                                    verbose_name=_("purchase"))
    code = models.CharField(_("short code"), max_length=16, unique=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"))
    claimed_by = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT, null=True,
                                   blank=True, related_name="+", verbose_name=_("claimed by"))
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("receipt claim")
        verbose_name_plural = _("receipt claims")

    def __str__(self):
        return f"{self.code[:4]}-{self.code[4:8]}-{self.code[8:]}"


class PurchaseItem(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(_("SKU"), max_length=100)
    category = models.CharField(_("category"), max_length=100, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")

    def __str__(self):
        return f"{self.quantity} × {self.sku}"

    @property
    def total(self):
        return self.unit_price * self.quantity


class Refund(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, related_name="+")
    refund_id = models.CharField(_("refund id"), max_length=100)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    items = models.JSONField(_("items"), default=list, blank=True)
    points_reversed = models.BigIntegerField(_("points reversed"))
    balance_after = models.BigIntegerField(_("spendable balance after"))
    entry = models.OneToOneField("loyalty.PointsEntry", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="refund")
    fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [models.UniqueConstraint(fields=["store", "refund_id"],
                                               name="unique_refund_per_store")]

    def __str__(self):
        return self.refund_id


class ActionEvent(models.Model):
    """An action reported for a member (a review, a sign-up), once per event id."""

    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT,
                               related_name="action_events")
    rule = models.ForeignKey("loyalty.ActionRule", on_delete=models.PROTECT, related_name="events")
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+")
    event_id = models.CharField(_("event id"), max_length=100)
    occurred_at = models.DateTimeField(_("occurred at"))
    points_earned = models.BigIntegerField(default=0)
    limited = models.BooleanField(default=False)
    balance_after = models.BigIntegerField(default=0)
    entry = models.OneToOneField("loyalty.PointsEntry", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="action_event")
    fingerprint = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("action")
        verbose_name_plural = _("actions")
        constraints = [
            models.UniqueConstraint(fields=["store", "event_id"], name="unique_event_per_store",
                                    condition=models.Q(store__isnull=False)),
            models.UniqueConstraint(fields=["event_id"], name="unique_system_event",
                                    condition=models.Q(store__isnull=True)),
        ]
        indexes = [models.Index(fields=["member", "rule", "occurred_at"], name="event_limit")]

    def __str__(self):
        return f"{self.rule_id}:{self.event_id}"
