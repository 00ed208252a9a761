"""Outbound webhooks: where to tell the e-shop (or any store's system) what happened.

An endpoint belongs to a store and subscribes to some events. Each event sent
to an endpoint is one `WebhookDelivery`, whose JSON body is written once, when
the event happens, so that the bytes signed are the bytes sent on every
attempt. The deliveries are the log the admin shows.
"""

import secrets
import uuid

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class WebhookEvent(models.TextChoices):
    MEMBER_TIER_CHANGED = "member.tier_changed", _("A member's tier changed")
    POINTS_EARNED = "points.earned", _("Points earned")
    POINTS_EXPIRING = "points.expiring", _("Points expiring soon")
    VOUCHER_ISSUED = "voucher.issued", _("Voucher issued")
    MEMBER_SEGMENT_CHANGED = "member.segment_changed", _("A member's segment changed")
    MEMBER_STAGE_CHANGED = "member.stage_changed", _("A member's lifecycle stage changed")
    MESSAGE_REQUESTED = "message.requested", _("A message for the shop's own tool to send")


class WebhookEndpoint(models.Model):
    """A URL of a store's system that receives the events it subscribed to, signed."""

    store = models.ForeignKey("loyalty.Store", on_delete=models.CASCADE,
                              related_name="webhook_endpoints", verbose_name=_("store"))
    url = models.URLField(_("URL"), max_length=500,
                          validators=[URLValidator(schemes=["http", "https"])],
                          help_text=_("Where events are POSTed, e.g. "
                                      "https://shop.example.com/hooks/loyalty"))
    events = models.JSONField(_("events"), default=list,
                              help_text=_("The events this endpoint receives."))
    secret = models.CharField(
        _("signing secret"), max_length=64, default=new_webhook_secret, editable=False,
        help_text=_("The receiver checks X-Loyalty-Signature with it. Rotating it "
                    "invalidates the old one at once."))
    active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["store", "url"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")

    def __str__(self):
        return f"{self.store.code}: {self.url}" if self.store_id else self.url

    def clean(self):
        super().clean()
        from loyalty.services import netguard

        if not self.url or not self.url.lower().startswith(("http://", "https://")):
            return  # the field's own validator says what is wrong
        try:
            netguard.check_destination(self.url)
        except netguard.UnsafeDestination as error:
            # A name that does not resolve yet is kept: every send checks it again.
            if error.code != "unresolvable":
                raise ValidationError({"url": error.message}, code=error.code) from None

    def subscribes_to(self, event: str) -> bool:
        return isinstance(self.events, list) and event in self.events


class WebhookDelivery(models.Model):
    """One event for one endpoint: its signed body, and how sending it went.

    It is also its own schedule (a durable outbox): a delivery still to send
    (queued or to retry) is due at `next_attempt_at`, and `claim` names the
    batch of workers' hands it is in (see `services/webhook_delivery.py`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        RETRYING = "retrying", _("Failed, will retry")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed, gave up")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE,
                                 related_name="deliveries", verbose_name=_("endpoint"))
    uuid = models.UUIDField(_("delivery id"), default=uuid.uuid4, unique=True, editable=False,
                            help_text=_("Sent as X-Loyalty-Delivery; the same on every attempt."))
    event = models.CharField(_("event"), max_length=40, choices=WebhookEvent.choices)
    event_key = models.CharField(
        _("cause"), max_length=120,
        help_text=_("What caused it, e.g. purchase:42; an endpoint gets each cause once."))
    body = models.TextField(_("body"), help_text=_("The exact JSON sent and signed."))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_status_code = models.PositiveSmallIntegerField(_("last HTTP status"), null=True,
                                                        blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), db_index=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        _("next attempt"), null=True, blank=True,
        help_text=_("When it is due to be sent (again); empty once delivered or given up."))
    failures = models.PositiveSmallIntegerField(
        _("failures in a row"), default=0,
        help_text=_("Failed attempts since it was queued or last retried by hand."))
    claim = models.UUIDField(_("claim"), null=True, blank=True, editable=False)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_key"],
                                               name="unique_webhook_cause_per_endpoint")]
        indexes = [models.Index(fields=["event", "event_key"], name="webhook_event_key"),
                   models.Index(fields=["status", "created_at"], name="webhook_status"),
                   # The sweeper's question: what is due now? Only open deliveries are in it.
                   models.Index(fields=["next_attempt_at"], name="webhook_due",
                                condition=models.Q(status__in=["pending", "retrying"]))]

    def __str__(self):
        return f"{self.event} {self.event_key} → {self.endpoint_id}"
