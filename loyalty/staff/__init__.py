"""The staff front door: the in-store scan page, the dashboard, cards issued at the till."""
