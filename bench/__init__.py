"""Benchmarks, run by `make bench`: scale.py (the ledger's services in-process) and
api.py (the HTTP API under gunicorn on PostgreSQL, against a bare baseline).

Nothing here is imported by the application.
"""
