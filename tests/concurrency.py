"""Running work from many threads at once, for the PostgreSQL race tests."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections


def run_at_once(count, work):
    """Run `work(i)` in `count` threads released together; return results or exceptions.

    Each thread closes the database connections it opened, so the test database
    can be dropped afterwards.
    """
    barrier = threading.Barrier(count)

    def call(i):
        try:
            barrier.wait(timeout=30)
            return work(i)
        except Exception as error:  # noqa: BLE001 - the test inspects what each thread got
            return error
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))
