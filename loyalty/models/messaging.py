"""Messages to members: the journeys that fire them, and each message as an outbox row.

A `Journey` is an automatic message (welcome, birthday, points expiring...),
switched on and tuned by managers. Each firing is one `Message`, unique per
occasion (`birthday:2027:42`), written with its cause and sent through the
outbox (`loyalty.services.outbox`). A message stores what it is about (its
context: numbers, dates, ids), never sentences: its text is rendered when it
is sent, in the member's language.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    WEBHOOK = "webhook", _("The shop's own tool (webhook)")


class Purpose(models.TextChoices):
    SERVICE = "service", _("Service (sent without marketing consent)")
    MARKETING = "marketing", _("Marketing (only with consent, within the caps)")


class Journey(models.Model):
    """An automatic message, fired by what happens to a member."""

    class Kind(models.TextChoices):
        WELCOME = "welcome", _("Welcome")
        SECOND_PURCHASE = "second_purchase", _("Second purchase")
        BIRTHDAY = "birthday", _("Birthday")
        POINTS_EXPIRING = "points_expiring", _("Points expiring")
        TIER_REACHED = "tier_reached", _("Tier reached")
        TIER_AT_RISK = "tier_at_risk", _("Tier at risk")
        REWARD_WITHIN_REACH = "reward_within_reach", _("Reward within reach")
        WIN_BACK = "win_back", _("Win-back")
        REVIEW_REQUEST = "review_request", _("Review request")

    kind = models.CharField(_("journey"), max_length=32, choices=Kind.choices, unique=True)
    active = models.BooleanField(_("active"), default=False)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices,
                               default=Channel.EMAIL)
    purpose = models.CharField(
        _("purpose"), max_length=16, choices=Purpose.choices, default=Purpose.MARKETING,
        help_text=_("Service messages go to every member; marketing ones only to those who "
                    "consented to the channel, within the frequency caps."))
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=50,
        help_text=_("When several journeys fire for a member on one day, the highest goes "
                    "first; the others count against the caps."))
    days = models.PositiveSmallIntegerField(
        _("days"), default=0,
        help_text=_("Second purchase: days after the first one. Points expiring and tier at "
                    "risk: days before. Review request: days after the purchase. Unused by "
                    "the others."))
    points_within = models.PositiveIntegerField(
        _("points from a reward"), default=100,
        help_text=_("Reward within reach: fired when a member is fewer than this many points "
                    "from a reward."))
    subject = models.CharField(_("subject"), max_length=150, blank=True,
                               help_text=_("Empty: the built-in text, in the member's language."))
    subject_fr = models.CharField(_("subject (French)"), max_length=150, blank=True)
    body = models.TextField(
        _("text"), blank=True,
        help_text=_("Empty: the built-in text. Variables: {{ first_name }}, {{ points }}, "
                    "{{ date }}, {{ tier }}, {{ reward }}, {{ balance }}, {{ card_link }}, "
                    "{{ link }}. Nothing else is reachable."))
    body_fr = models.TextField(_("text (French)"), blank=True)
    # Win-back: a voucher given with the message (no points spent), valid for some days.
    voucher_reward = models.ForeignKey(
        "rewards.Reward", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("voucher given"),
        help_text=_("Win-back: each message comes with a voucher for this reward (its kind, "
                    "value and stores), given without points. Empty: no voucher. The reward "
                    "need not be on sale."))
    voucher_days = models.PositiveSmallIntegerField(
        _("voucher valid for (days)"), default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)])
    # Second purchase: a personal bonus on the member's next purchase only.
    bonus_factor = models.DecimalField(
        _("next-purchase multiplier"), max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(Decimal("1.01")), MaxValueValidator(Decimal("10"))],
        help_text=_("Second purchase: 2.00 doubles the points of the member's next purchase. "
                    "Empty: none."))
    bonus_points = models.PositiveIntegerField(
        _("next-purchase extra points"), default=0, validators=[MaxValueValidator(100_000)],
        help_text=_("Second purchase: points added to the member's next purchase. 0: none."))
    bonus_days = models.PositiveSmallIntegerField(
        _("next-purchase bonus valid for (days)"), default=14,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text=_("The bonus applies to the first purchase within this many days of the "
                    "message, once."))

    class Meta:
        ordering = ["-priority", "kind"]
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")

    def __str__(self):
        return str(self.get_kind_display())

    @property
    def gives_bonus(self) -> bool:
        return self.kind == self.Kind.SECOND_PURCHASE and bool(
            self.bonus_factor or self.bonus_points)

    @property
    def gives_voucher(self) -> bool:
        return self.kind == self.Kind.WIN_BACK and self.voucher_reward_id is not None

    def clean(self):
        errors = {}
        if self.voucher_reward_id is not None and self.kind != self.Kind.WIN_BACK:
            errors["voucher_reward"] = _("Only the win-back journey gives a voucher.")
        if (self.bonus_factor or self.bonus_points) and self.kind != self.Kind.SECOND_PURCHASE:
            errors["bonus_factor"] = _("Only the second-purchase journey gives a "
                                       "next-purchase bonus.")
        if errors:
            raise ValidationError(errors)


# A message is a journey's firing or one campaign's (`Message.campaign`).
CAMPAIGN_KIND = "campaign"
MESSAGE_KINDS = [*Journey.Kind.choices, (CAMPAIGN_KIND, _("Campaign"))]


class Message(models.Model):
    """One message to one member for one occasion: an outbox row, sent at most once."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Not sent")

    class Reason(models.TextChoices):
        NO_CONSENT = "no_consent", _("No consent for this channel")
        CAPPED = "capped", _("Frequency cap reached")
        QUIET_HOURS = "quiet_hours", _("Held for the quiet hours")
        ERASED = "erased", _("Member closed or erased")
        NO_ADDRESS = "no_address", _("No address for this channel")
        JOURNEY_OFF = "journey_off", _("Journey switched off")
        BOUNCED = "bounced", _("Bounced")
        SEND_FAILED = "send_failed", _("Could not be sent")

    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE,
                               related_name="messages", verbose_name=_("member"))
    journey = models.ForeignKey(Journey, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="messages", verbose_name=_("journey"))
    # PROTECT: a campaign's text is the message's; a sent campaign stays on record.
    campaign = models.ForeignKey("loyalty.Campaign", on_delete=models.PROTECT, null=True,
                                 blank=True, related_name="messages",
                                 verbose_name=_("campaign"))
    kind = models.CharField(_("kind"), max_length=32, choices=MESSAGE_KINDS)
    occasion = models.CharField(
        _("occasion"), max_length=120, unique=True,
        help_text=_("What it is for, e.g. birthday:2027:42: a member gets each occasion once."))
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=Purpose.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), default=50)
    context = models.JSONField(_("context"), default=dict, blank=True,
                               help_text=_("What it is about (numbers, dates, ids), rendered "
                                           "in the member's language when sent."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.QUEUED)
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices, blank=True)
    created_at = models.DateTimeField(_("created at"))
    next_attempt_at = models.DateTimeField(_("due at"), null=True, blank=True)
    claim = models.UUIDField(_("claim"), null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    failures = models.PositiveSmallIntegerField(_("failures in a row"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [
            models.Index(fields=["next_attempt_at"], name="message_due",
                         condition=models.Q(status="queued")),
            # The caps' question: what marketing did this member get lately?
            models.Index(fields=["member", "purpose", "sent_at"], name="message_member_sent"),
            models.Index(fields=["kind", "created_at"], name="message_kind"),
        ]

    def __str__(self):
        return self.occasion


class EmailBounce(models.Model):
    """An email address the provider reported undeliverable (a bounce) or that complained
    of spam: later email messages to it are suppressed (`bounced`). One row per provider
    event; the address is kept lower-case, so a member who changes address is reachable
    again."""

    class Event(models.TextChoices):
        BOUNCED = "bounced", _("Bounced")
        REJECTED = "rejected", _("Rejected by the provider")
        COMPLAINED = "complained", _("Marked as spam")

    address = models.EmailField(_("address"), db_index=True)
    member = models.ForeignKey("loyalty.Member", on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="email_bounces",
                               verbose_name=_("member"))
    event = models.CharField(_("event"), max_length=12, choices=Event.choices)
    event_id = models.CharField(_("provider's event id"), max_length=200, unique=True)
    provider = models.CharField(_("provider"), max_length=50, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    at = models.DateTimeField(_("at"))

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("email bounce")
        verbose_name_plural = _("email bounces")

    def __str__(self):
        return f"{self.address} ({self.event})"
