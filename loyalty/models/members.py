from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Member(models.Model):
    """One person in the programme: the single customer view.

    Points live on this row (balance, pending, lifetime_earned) but only the
    ledger service writes them, under a row lock, in the same transaction as
    the entry that explains the change.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        MERGED = "merged", _("Merged into another member")
        DELETED = "deleted", _("Deleted (anonymised)")

    card_number = models.CharField(_("card number"), max_length=16, unique=True)
    email = models.EmailField(_("email"), blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=20, blank=True, db_index=True,
                             help_text=_("E.164, e.g. +33612345678"))
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                                blank=True, related_name="member", verbose_name=_("account"))

    email_marketing = models.BooleanField(_("email marketing consent"), default=False)
    email_marketing_at = models.DateTimeField(_("email consent changed at"), null=True,
                                              blank=True)
    sms_marketing = models.BooleanField(_("SMS marketing consent"), default=False)
    sms_marketing_at = models.DateTimeField(_("SMS consent changed at"), null=True, blank=True)

    tier = models.ForeignKey("loyalty.Tier", on_delete=models.PROTECT, null=True, blank=True,
                             related_name="members", verbose_name=_("tier"))
    balance = models.BigIntegerField(_("spendable points"), default=0, editable=False)
    pending = models.BigIntegerField(_("pending points"), default=0, editable=False)
    lifetime_earned = models.BigIntegerField(_("lifetime points earned"), default=0,
                                             editable=False)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.ACTIVE)
    merged_into = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="merged_members", verbose_name=_("merged into"))
    referred_by = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="referrals", verbose_name=_("referred by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            # One person, one member: an identity belongs to at most one open member.
            models.UniqueConstraint(fields=["email"], name="unique_active_member_email",
                                    condition=models.Q(status="active") & ~models.Q(email="")),
            models.UniqueConstraint(fields=["phone"], name="unique_active_member_phone",
                                    condition=models.Q(status="active") & ~models.Q(phone="")),
            models.CheckConstraint(condition=models.Q(pending__gte=0),
                                   name="member_pending_not_negative"),
        ]

    def __str__(self):
        name = self.full_name
        return f"{name} ({self.card_number})" if name else self.card_number

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class ExternalId(models.Model):
    """A customer id in another system (the e-shop's customer number, a CRM id)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="external_ids",
                               verbose_name=_("member"))
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT,
                              related_name="external_ids", verbose_name=_("store"))
    value = models.CharField(_("external id"), max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("external id")
        verbose_name_plural = _("external ids")
        constraints = [models.UniqueConstraint(fields=["store", "value"],
                                               name="unique_external_id_per_store")]

    def __str__(self):
        return f"{self.store.code}:{self.value}"


class ConsentChange(models.Model):
    """The history of marketing consents: who said yes or no, when, and where."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Email")
        SMS = "sms", _("SMS")

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="consent_changes")
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    granted = models.BooleanField(_("granted"))
    source = models.CharField(_("source"), max_length=50, blank=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("consent change")
        verbose_name_plural = _("consent changes")

    def __str__(self):
        verdict = "yes" if self.granted else "no"
        return f"{self.get_channel_display()}: {verdict} ({self.at:%Y-%m-%d})"


class MemberMerge(models.Model):
    """The audit record of a merge: who merged which duplicate into which survivor."""

    survivor = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="merges_received")
    duplicate = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="merge_record")
    performed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    moved = models.JSONField(_("what was moved"), default=dict)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = _("member merge")
        verbose_name_plural = _("member merges")

    def __str__(self):
        return f"#{self.duplicate_id} → #{self.survivor_id}"
