"""The Django admin of the programme, one module per area of the core."""

from loyalty.admin import (  # noqa: F401 (registers)
    api,
    campaigns,
    imports,
    insight,
    ledger,
    members,
    messaging,
    purchases,
    reviews,
    scale,
    webhooks,
)
