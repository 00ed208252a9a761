from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PointsEntry(models.Model):
    """One line of the points ledger. Append-only: never updated, never deleted.

    `points` is signed. `balance_after` is the member's running ledger total
    after this entry (spendable + pending), so every entry can be checked
    against the one before it. `lifetime_delta` is how the entry changes the
    member's lifetime earned points (earn +, refund reversal −, merge carries).
    """

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        REFUND = "refund", _("Refund reversal")
        ADJUST = "adjust", _("Adjustment")
        MERGE = "merge", _("Merge")
        CANCEL = "cancel", _("Cancellation")
        MIGRATION = "migration", _("Opening balance from a previous programme")

    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT,
                               related_name="entries", verbose_name=_("member"))
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    points = models.BigIntegerField(_("points"))
    balance_after = models.BigIntegerField(_("ledger total after"))
    lifetime_delta = models.BigIntegerField(default=0)
    # What staff typed (a manual adjustment's note); lines the system writes are rendered
    # from `details` when shown (loyalty/services/history.py), in the reader's language.
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    details = models.JSONField(
        _("details"), default=dict, db_default={}, blank=True,
        help_text=_("What the entry records (rule, tier, purchase, store...), rendered in the "
                    "reader's language when shown."))
    reference = models.CharField(_("reference"), max_length=120, blank=True, db_index=True,
                                 help_text=_("What caused it, e.g. purchase:42, refund:7"))
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("store"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+",
                                   verbose_name=_("by"))
    created_at = models.DateTimeField(_("at"), db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("points entry")
        verbose_name_plural = _("points ledger")
        indexes = [
            models.Index(fields=["member", "-id"], name="entry_member_recent"),
            # A member's history, newest first (the transactions API and pages): the
            # first page reads its rows from the index, not the member's whole history.
            models.Index(fields=["member", "-created_at", "-id"], name="entry_member_history"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.points:+d} ({self.member_id})"


class PointsLot(models.Model):
    """Points credited together, with their own pending and expiry dates.

    Debits consume available lots first-expiring-first. The lot keeps where its
    points went, which is what makes a refund fair: points still in the lot are
    taken back from it; points already spent are taken back from the balance;
    points that already expired are not taken twice.

    points = remaining + spent + expired + reversed, always.
    """

    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    points = models.BigIntegerField(_("points credited"))
    remaining = models.BigIntegerField(_("remaining"))
    spent = models.BigIntegerField(_("spent"), default=0)
    expired = models.BigIntegerField(_("expired"), default=0)
    reversed = models.BigIntegerField(_("reversed by refunds"), default=0)
    clawed_back = models.BigIntegerField(
        _("spent points taken back by refunds"), default=0,
        help_text=_("Part of `spent` that a refund charged back to the balance."))
    qualifying = models.BooleanField(_("counts towards tiers"), default=False)
    earned_at = models.DateTimeField(_("earned at"))
    available_at = models.DateTimeField(_("pending until"))
    released = models.BooleanField(_("spendable"), default=False)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        ordering = ["expires_at", "id"]
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        indexes = [
            models.Index(fields=["member", "released", "expires_at"], name="lot_member_open"),
            models.Index(fields=["expires_at"], name="lot_open_expiry",
                         condition=models.Q(remaining__gt=0, released=True)),
            models.Index(fields=["available_at"], name="lot_pending_release",
                         condition=models.Q(released=False)),
            models.Index(fields=["member", "earned_at"], name="lot_member_earned"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0, spent__gte=0, expired__gte=0,
                                   reversed__gte=0, clawed_back__gte=0),
                name="lot_parts_not_negative"),
        ]

    def __str__(self):
        return f"lot {self.pk}: {self.remaining}/{self.points}"
