"""Account emails (sign-up confirmation, password reset, ...), sent by a worker.

The request only renders the message and queues it: no SMTP round trip in the
request, so that signing up answers as fast for an address that has an account as
for one that has none (allauth sends one mail either way).
"""

from __future__ import annotations

import logging
from smtplib import SMTPException

from celery import shared_task
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger("accounts.mail")


def message_data(message: EmailMessage) -> dict:
    """The rendered message as plain JSON-ready data (Celery's serializer is JSON)."""
    return {
        "subject": message.subject, "body": message.body, "from_email": message.from_email,
        "to": list(message.to), "cc": list(message.cc), "bcc": list(message.bcc),
        "reply_to": list(message.reply_to), "headers": dict(message.extra_headers),
        "content_subtype": message.content_subtype,
        "alternatives": [[content, mimetype] for content, mimetype
                         in getattr(message, "alternatives", [])],
    }


def build_message(data: dict) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=data["subject"], body=data["body"], from_email=data["from_email"],
        to=data["to"], cc=data["cc"], bcc=data["bcc"], reply_to=data["reply_to"],
        headers=data["headers"])
    message.content_subtype = data["content_subtype"]
    for content, mimetype in data["alternatives"]:
        message.attach_alternative(content, mimetype)
    return message


@shared_task(autoretry_for=(SMTPException, OSError), retry_backoff=True,
             retry_backoff_max=600, max_retries=5, acks_late=True)
def send_account_email(data: dict) -> int:
    # A retry follows a failed send: the mail server took nothing (an email cannot be
    # recalled, so a send that succeeded is never repeated on purpose).
    return build_message(data).send()


def queue_account_email(message: EmailMessage) -> None:
    """Send it from a worker once the request's writes are committed. With the broker
    down, send it here and now rather than lose it."""
    data = message_data(message)

    def enqueue():
        try:
            send_account_email.delay(data)
        except OperationalError:
            logger.warning("Broker unreachable: an account email is sent in the request")
            build_message(data).send()

    transaction.on_commit(enqueue)
