from celery import shared_task

from rewards import services


@shared_task(acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def expire_vouchers() -> int:
    """Mark vouchers past their date as expired (idempotent: a set-based update)."""
    return services.expire_vouchers()
