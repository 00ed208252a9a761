"""Handing work to Celery workers from the services, by task name.

The services never import the task modules: tasks call services, not the
reverse (`loyalty.apps` registers every task in every process). Whatever is
handed over this way is also a database row with a due time (a webhook
delivery, an import job), so a broker that refuses is logged, never raised:
the beat sweeper that owns those rows sends the work when the broker is back.
"""

from __future__ import annotations

import logging

from celery import current_app

logger = logging.getLogger(__name__)


def run_task(name: str, *args, **kwargs) -> bool:
    """Queue task `name` (eagerly run in development); False if the broker refused it."""
    try:
        current_app.tasks[name].delay(*args, **kwargs)
    except Exception:
        logger.exception("Could not hand %s to a worker; its sweeper will.", name)
        return False
    return True
