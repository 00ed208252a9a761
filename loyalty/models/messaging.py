"""Messages to members: the journeys that fire them, and each message as an outbox row.

A `Journey` is an automatic message (welcome, birthday, points expiring...),
switched on and tuned by managers. Each firing is one `Message`, unique per
occasion (`birthday:2027:42`), written with its cause and sent through the
outbox (`loyalty.services.outbox`). A message stores what it is about (its
context: numbers, dates, ids), never sentences: its text is rendered when it
is sent, in the member's language.
"""

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

    class Meta:
        ordering = ["-priority", "kind"]
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")

    def __str__(self):
        return str(self.get_kind_display())


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
