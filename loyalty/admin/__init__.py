"""The Django admin of the programme, one module per area of the core."""

from loyalty.admin import api, ledger, members, purchases, scale, webhooks  # noqa: F401 (registers)
