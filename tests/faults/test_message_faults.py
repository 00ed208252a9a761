"""Members' messages survive a Redis outage: queued while it is down, each sent once when
it is back (a real worker, beat's dispatcher run by hand)."""

import time

import pytest

from loyalty.models import Message
from tests.faults.harness import Worker, app_env, run_python, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def dispatcher_tick(env) -> int:
    return int(run_python("from loyalty.services.messaging import delivery\n"
                          "print(delivery.dispatch_due())", env).splitlines()[-1])


def test_messages_queued_with_redis_down_are_sent_once_when_it_returns(private_redis,
                                                                       tmp_path):
    count = 12
    outbox = tmp_path / "mail"
    env = app_env(redis_url=private_redis.url, LOYALTY_OUTBOX_LEASE_SECONDS="10",
                  EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                  EMAIL_FILE_PATH=str(outbox))
    private_redis.stop()
    # The hourly journeys run while Redis is down: the messages are written, the
    # dispatcher cannot be woken, nothing fails.
    queued = run_python(f"""
from loyalty.models import Journey
from loyalty.services import members
from loyalty.services.messaging import journeys
for n in range({count}):
    members.create_member(email=f"new{{n}}@example.com", first_name=f"N{{n}}")
Journey.objects.filter(kind="welcome").update(active=True)  # a service message: no quiet hours
print(journeys.run_journeys()["welcome"])
""", env).splitlines()[-1]
    assert queued == str(count)
    assert Message.objects.filter(status=Message.Status.QUEUED).count() == count
    private_redis.start()
    with Worker(env, tmp_path / "worker.log") as worker:
        deadline = time.monotonic() + 90
        while Message.objects.filter(status=Message.Status.SENT).count() < count:
            assert worker.alive, worker.output()[-3000:]
            assert time.monotonic() < deadline, "not all messages were sent"
            dispatcher_tick(env)
            time.sleep(1)
        # Ticks after the last send change nothing.
        assert dispatcher_tick(env) == 0
    wait_until(lambda: outbox.exists(), timeout=5, what="the mail files")
    subjects = [line for path in outbox.iterdir()
                for line in path.read_text().splitlines() if line.startswith("Subject:")]
    assert len(subjects) == count  # each member's welcome, once
