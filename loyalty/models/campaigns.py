"""Campaigns: one message to an audience, with a random holdout that gets nothing.

A manager picks an audience (segments, lifecycle stages, tiers, RFM scores; the
channel's marketing consent is always required), writes the message in English
and French, may attach an offer (double points between two dates, for the sent
group only), and schedules it. When it is sent, the audience is frozen into
`CampaignMember` rows, each in the sent group or the holdout by a hash of the
campaign's salt and the member's id: reproducible and auditable. The campaign
page then compares the two groups over `window_days` after sending.
"""

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .insight import SCORE, Stage
from .messaging import Channel

SCORE_RANGES = (("r_min", "r_max"), ("f_min", "f_max"), ("m_min", "m_max"))


def new_salt() -> str:
    return secrets.token_hex(16)


class Campaign(models.Model):
    """One marketing message to an audience, with a control group (the holdout)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    class Offer(models.TextChoices):
        NONE = "none", _("No offer")
        DOUBLE_POINTS = "double_points", _("Double points on purchases between two dates")
        VOUCHER = "voucher", _("A voucher, valid until the offer's end")

    name = models.CharField(_("name"), max_length=100)
    # The audience: every filter given must hold; within one filter, any value chosen.
    segments = models.ManyToManyField("loyalty.Segment", blank=True, related_name="+",
                                      verbose_name=_("segments"),
                                      help_text=_("Empty: any segment."))
    stages = models.JSONField(_("lifecycle stages"), default=list, blank=True,
                              help_text=_("Empty: any stage."))
    tiers = models.ManyToManyField("loyalty.Tier", blank=True, related_name="+",
                                   verbose_name=_("tiers"), help_text=_("Empty: any tier."))
    r_min = models.PositiveSmallIntegerField(_("R from"), null=True, blank=True,
                                             validators=SCORE)
    r_max = models.PositiveSmallIntegerField(_("R to"), null=True, blank=True, validators=SCORE)
    f_min = models.PositiveSmallIntegerField(_("F from"), null=True, blank=True,
                                             validators=SCORE)
    f_max = models.PositiveSmallIntegerField(_("F to"), null=True, blank=True, validators=SCORE)
    m_min = models.PositiveSmallIntegerField(_("M from"), null=True, blank=True,
                                             validators=SCORE)
    m_max = models.PositiveSmallIntegerField(_("M to"), null=True, blank=True, validators=SCORE)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices,
                               default=Channel.EMAIL)
    subject = models.CharField(_("subject"), max_length=150)
    subject_fr = models.CharField(_("subject (French)"), max_length=150, blank=True)
    body = models.TextField(
        _("text"),
        help_text=_("Variables: {{ first_name }}, {{ balance }}, {{ date }} (the offer's last "
                    "day), {{ card_link }}, {{ link }}. Nothing else is reachable."))
    body_fr = models.TextField(_("text (French)"), blank=True,
                               help_text=_("Empty: French readers get the English text."))
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout (%)"), default=10, validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text=_("This share of the audience, drawn at random, receives nothing: the "
                    "comparison that tells whether the campaign changed anything."))
    salt = models.CharField(_("draw seed"), max_length=32, default=new_salt, editable=False,
                            help_text=_("Who falls in the holdout follows from this seed and "
                                        "the member's id, so the draw can be checked again."))
    offer = models.CharField(_("offer"), max_length=16, choices=Offer.choices,
                             default=Offer.NONE)
    offer_reward = models.ForeignKey(
        "rewards.Reward", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("voucher for"),
        help_text=_("Voucher offer: each member of the sent group gets a voucher for this "
                    "reward (its kind, value and stores), without points. It need not be on "
                    "sale."))
    offer_starts_at = models.DateTimeField(_("offer from"), null=True, blank=True)
    offer_ends_at = models.DateTimeField(_("offer until"), null=True, blank=True)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.DRAFT)
    window_days = models.PositiveSmallIntegerField(
        _("results window (days)"), default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("Purchases in this many days after sending are compared."))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+",
                                   verbose_name=_("created by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        indexes = [models.Index(fields=["status", "scheduled_at"], name="campaign_due")]
        constraints = [
            models.CheckConstraint(condition=models.Q(holdout_percent__lte=50),
                                   name="campaign_holdout_at_most_half"),
        ]

    def __str__(self):
        return self.name

    @property
    def editable(self) -> bool:
        return self.status in (self.Status.DRAFT, self.Status.SCHEDULED)

    def clean(self):
        errors = {}
        for low, high in SCORE_RANGES:
            a, b = getattr(self, low), getattr(self, high)
            if a is not None and b is not None and a > b:
                errors[high] = _("Must not be below the lower bound.")
        if not isinstance(self.stages, list) or any(s not in Stage.values for s in self.stages):
            errors["stages"] = _("A list of stage codes: %(codes)s") % {
                "codes": ", ".join(Stage.values)}
        if self.offer == self.Offer.DOUBLE_POINTS:
            if not (self.offer_starts_at and self.offer_ends_at):
                errors["offer_ends_at"] = _("Double points need a start and an end.")
            elif self.offer_ends_at <= self.offer_starts_at:
                errors["offer_ends_at"] = _("The end must be after the start.")
        if self.offer == self.Offer.VOUCHER:
            if self.offer_reward_id is None:
                errors["offer_reward"] = _("Choose the reward the voucher is for.")
            if not self.offer_ends_at:
                errors["offer_ends_at"] = _("A voucher needs the date it expires.")
            elif self.scheduled_at and self.offer_ends_at <= self.scheduled_at:
                errors["offer_ends_at"] = _("The voucher must expire after the sending.")
        if errors:
            raise ValidationError(errors)


class CampaignMember(models.Model):
    """A member of a sent campaign's audience, and their group: frozen when it was sent."""

    class Group(models.TextChoices):
        SENT = "sent", _("Sent group")
        HOLDOUT = "holdout", _("Holdout")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members",
                                 verbose_name=_("campaign"))
    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE,
                               related_name="campaign_memberships", verbose_name=_("member"))
    group = models.CharField(_("group"), max_length=8, choices=Group.choices)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [models.UniqueConstraint(fields=["campaign", "member"],
                                               name="unique_campaign_member")]
        # The offer's question at a purchase: is this member in a sent group?
        indexes = [models.Index(fields=["member", "group"], name="campaign_member_group")]

    def __str__(self):
        return f"{self.campaign_id}:{self.member_id} ({self.group})"
