"""django-anymail's `tracking` signal, received: thin, the rules are the service's."""

from loyalty.services.messaging import bounces


def tracking_received(sender, event, esp_name, **kwargs):
    """Each tracking event anymail normalised from a provider's webhook."""
    bounces.record_email_event(
        event_type=event.event_type or "", recipient=event.recipient or "",
        event_id=event.event_id or "", provider=esp_name or "",
        reject_reason=event.reject_reason or "",
        description=event.description or event.mta_response or "", at=event.timestamp)


def connect() -> None:
    from anymail.signals import tracking

    tracking.connect(tracking_received, weak=False, dispatch_uid="loyalty-email-tracking")
