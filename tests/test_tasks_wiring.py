"""Celery wiring: the app loads, discovers the tasks, and beat only names tasks that exist."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from loyalty.celery import app
from loyalty.services import purchases
from tests.factories import programme

ROOT = Path(__file__).resolve().parent.parent
PROJECT_APPS = ("loyalty.", "accounts.", "rewards.")
SCHEDULED = {
    "loyalty.tasks.release_pending_points",
    "loyalty.tasks.expire_points",
    "loyalty.tasks.reevaluate_tiers",
    "loyalty.tasks.compute_insight",
    "loyalty.tasks.dispatch_webhooks",
    "loyalty.tasks.dispatch_messages",
    "loyalty.tasks.run_journeys",
    "loyalty.tasks.send_due_campaigns",
}


@pytest.fixture(scope="module")
def registry():
    # What a worker does at start: import every installed app's tasks module.
    app.loader.import_default_modules()
    return app.tasks


def project_tasks(registry) -> dict:
    return {name: task for name, task in registry.items() if name.startswith(PROJECT_APPS)}


def test_celery_app_reads_the_django_settings():
    assert app.main == "loyalty"
    assert app.conf.task_acks_late is True
    assert app.conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"
    assert app.conf.beat_schedule == settings.CELERY_BEAT_SCHEDULE


def test_beat_schedules_the_points_tier_insight_and_outbox_jobs():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled >= SCHEDULED


def test_every_scheduled_task_is_registered(registry):
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in registry, f"beat entry {name!r} names an unknown task"


def test_a_fresh_worker_process_discovers_the_scheduled_tasks():
    """Autodiscovery itself works: nothing imported loyalty.tasks beforehand."""
    code = ("import json; from loyalty.celery import app; "
            "app.loader.import_default_modules(); print(json.dumps(sorted(app.tasks)))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,  # noqa: S603
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    names = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert names >= SCHEDULED


def test_every_project_task_acknowledges_late(registry):
    """A task is only acknowledged once done, so a worker lost mid-task means a retry."""
    tasks = project_tasks(registry)
    assert set(tasks) >= SCHEDULED
    not_late = sorted(name for name, task in tasks.items() if task.acks_late is not True)
    assert not_late == []


@pytest.mark.django_db
def test_the_nightly_jobs_run_on_an_empty_programme(registry):
    for name in sorted(SCHEDULED):
        assert registry[name].apply().get() in (0, {})  # nothing done (run_journeys: by kind)


@pytest.mark.django_db
def test_scheduled_release_runs_eagerly_end_to_end(registry, store, scale, member):
    """release_pending_points fans out to update_members_points, which releases due points."""
    programme(return_window_days=14, points_validity_days=365)
    purchases.record_purchase(store=store, order_id="A-1", amount="20.00", member=member)
    member.refresh_from_db()
    assert (member.pending, member.balance) == (20, 0)

    assert registry["loyalty.tasks.release_pending_points"].apply().get() == 0

    with time_machine.travel(timezone.now() + timedelta(days=15), tick=False):
        assert registry["loyalty.tasks.release_pending_points"].apply().get() == 1
    member.refresh_from_db()
    assert (member.pending, member.balance) == (0, 20)


def test_the_insight_runs_nightly_after_the_tiers_are_reevaluated():
    schedule = {entry["task"]: entry["schedule"]
                for entry in settings.CELERY_BEAT_SCHEDULE.values()}

    def minutes(task):
        entry = schedule[task]
        assert len(entry.hour) == len(entry.minute) == 1, "once a day"
        return min(entry.hour) * 60 + min(entry.minute)

    assert minutes("loyalty.tasks.compute_insight") == 3 * 60 + 40
    assert minutes("loyalty.tasks.compute_insight") > minutes("loyalty.tasks.reevaluate_tiers")
