"""How a message leaves: email (Django's email framework), SMS (a small backend
interface, console by default) or the shop's own tool (the `message.requested`
webhook, through the webhook outbox)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.module_loading import import_string

from loyalty.models import Channel, Member, Message, WebhookEvent
from loyalty.services.messaging.render import Rendered

logger = logging.getLogger(__name__)


class SendFailed(Exception):
    """The channel refused or failed: worth trying again later."""


class ConsoleSmsBackend:
    """Writes each SMS to the log (development); a provider's backend replaces it."""

    def send(self, *, to: str, text: str) -> None:
        logger.warning("SMS to %s: %s", to, text)


def sms_backend():
    return import_string(settings.LOYALTY_SMS_BACKEND)()


def send_email(message: Message, member: Member, rendered: Rendered) -> None:
    headers = {"List-Unsubscribe": f"<{rendered.unsubscribe_url}>",
               "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
               "X-Loyalty-Message": message.occasion}
    with translation.override(rendered.language):
        context = {"rendered": rendered, "member": member}
        text = render_to_string("emails/message.txt", context)
        html = render_to_string("emails/message.html", context)
    email = EmailMultiAlternatives(subject=rendered.subject, body=text, to=[member.email],
                                   headers=headers)
    email.attach_alternative(html, "text/html")
    try:
        email.send()
    except Exception as error:  # SMTP or a provider's API: any failure is a retry
        raise SendFailed(f"{type(error).__name__}: {error}") from error


def send_sms(message: Message, member: Member, rendered: Rendered) -> None:
    try:
        sms_backend().send(to=member.phone, text=rendered.text)
    except Exception as error:
        raise SendFailed(f"{type(error).__name__}: {error}") from error


def request_from_shop(message: Message, member: Member, rendered: Rendered) -> None:
    """Hand the message to the shop's own email tool: one `message.requested` webhook."""
    from loyalty.services import webhooks

    webhooks.emit(event=WebhookEvent.MESSAGE_REQUESTED, event_key=f"message:{message.pk}",
                  payload={"message_id": message.pk, "kind": message.kind,
                           "purpose": message.purpose, "member_id": member.pk,
                           "card_number": member.card_number, "email": member.email,
                           "phone": member.phone, "language": rendered.language,
                           "subject": rendered.subject, "text": rendered.text,
                           "unsubscribe_url": rendered.unsubscribe_url})


SENDERS = {Channel.EMAIL: send_email, Channel.SMS: send_sms, Channel.WEBHOOK: request_from_shop}
