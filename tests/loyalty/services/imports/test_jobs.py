"""Staff uploads as jobs: queued on commit, run once by a task, re-run only when stalled."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone, translation

from loyalty.models import ImportJob, Member, Purchase
from loyalty.services.errors import Invalid
from loyalty.services.imports import jobs
from loyalty.services.imports.csvfile import RowError
from loyalty.tasks import requeue_stalled_imports, run_import_job
from tests.loyalty.services.imports.conftest import csv_file, purchases

pytestmark = pytest.mark.django_db

GOOD = purchases("C1,O1,2024-03-01,10.00", "C2,O2,2024-03-02,20.00")
BAD = csv_file("customer_ref;order_id;occurred_at;amount;note",
               "C1;O1;2024-03-01;10.00;fine", "C2;O2;yesterday;20.00;oops",
               "C3;O3;2024-03-03;-1;again")


def new_job(store, content=GOOD, kind=ImportJob.Kind.PURCHASES, **kwargs) -> ImportJob:
    return jobs.create_job(kind=kind, store=store, filename="history.csv", content=content,
                           **kwargs)


def test_an_upload_is_queued_when_it_commits_and_runs_to_its_summary(
        store, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = new_job(store)
        assert job.status == ImportJob.Status.QUEUED
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.summary["purchases_added"] == 2
    assert (job.rows_total, job.rows_done, job.attempts) == (2, 2, 1)
    assert job.finished_at is not None and job.next_attempt_at is None
    assert jobs.job_progress(job)["percent"] == 100


def test_a_rejected_file_keeps_its_errors_and_writes_nothing(store):
    job = new_job(store, BAD)
    run_import_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.REJECTED
    assert job.error_count == 2
    assert [(e["line"], e["column"], e["code"]) for e in job.errors] == [
        (3, "occurred_at", "invalid_datetime"), (4, "amount", "invalid_amount")]
    assert not Purchase.objects.exists() and not Member.objects.exists()


def test_a_rejected_jobs_errors_are_stored_as_codes_and_read_in_the_readers_language(store):
    with translation.override("en"):
        job = new_job(store, BAD)
        run_import_job(job.pk)
    job = ImportJob.objects.get(pk=job.pk)
    assert all("message" not in error for error in job.errors)
    assert job.errors[0] == {"line": 3, "column": "occurred_at", "code": "invalid_datetime",
                             "params": {}}
    with translation.override("fr"):
        assert jobs.job_errors(job)[0].message.startswith("Date ou heure non conforme")
        text = "".join(jobs.rejected_rows_csv(job))
    assert "occurred_at: Date ou heure non conforme" in text
    with translation.override("en"):
        assert jobs.job_errors(job)[0].message.startswith("Not a date or time")


def test_an_error_stored_with_its_sentence_by_an_older_version_is_shown_as_it_was():
    stored = {"line": 2, "column": "amount", "code": "invalid_amount", "message": "Bad."}
    with translation.override("fr"):
        assert RowError.from_dict(stored).message == "Bad."


def test_a_failed_job_stores_no_sentence_and_says_it_in_the_readers_language(store):
    job = new_job(store)
    ImportJob.objects.filter(pk=job.pk).update(attempts=jobs.MAX_ATTEMPTS)
    with translation.override("en"):
        run_import_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [{"line": 0, "column": "", "code": "failed",
                           "params": {"variant": "stopped", "count": jobs.MAX_ATTEMPTS}}]
    with translation.override("fr"):
        assert jobs.job_errors(job)[0].message == (
            f"L’import s’est interrompu {jobs.MAX_ATTEMPTS} fois : il a été abandonné.")


def test_the_rejected_rows_come_back_as_they_were_with_line_and_error(store):
    job = new_job(store, BAD)
    run_import_job(job.pk)
    job = ImportJob.objects.get(pk=job.pk)
    text = "".join(jobs.rejected_rows_csv(job))
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=";"))
    assert rows[0] == ["customer_ref", "order_id", "occurred_at", "amount", "note", "line",
                       "error"]
    assert [row[:6] for row in rows[1:]] == [["C2", "O2", "yesterday", "20.00", "oops", "3"],
                                             ["C3", "O3", "2024-03-03", "-1", "again", "4"]]
    assert rows[1][6].startswith("occurred_at: ")


def test_errors_found_against_the_database_are_in_the_rejected_rows_too(store):
    run_import_job(new_job(store, purchases("C1,O1,2024-03-01,10.00")).pk)
    job = new_job(store, purchases("C1,O1,2024-03-01,11.00", "C2,O2,2024-03-01,1.00"))
    run_import_job(job.pk)
    job = ImportJob.objects.get(pk=job.pk)
    assert job.errors[0]["code"] == "order_conflict"
    rows = list(csv.reader(io.StringIO("".join(jobs.rejected_rows_csv(job)).lstrip("\ufeff"))))
    assert [(row[0], row[-2]) for row in rows[1:]] == [("C1", "2")]


def test_a_file_without_the_columns_is_rejected_on_its_header(store):
    job = new_job(store, b"name,price\nx,1\n")
    run_import_job(job.pk)
    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == ImportJob.Status.REJECTED
    assert job.errors[0]["code"] == "missing_columns"
    rows = list(csv.reader(io.StringIO("".join(jobs.rejected_rows_csv(job)).lstrip("\ufeff"))))
    assert rows[-1][-2:] == ["1", jobs.job_errors(job)[0].message]


def test_a_members_file_runs_as_a_members_import(store):
    job = new_job(store, csv_file("customer_ref,email,phone,first_name,last_name,birth_date",
                                  "R1,a@example.com,,Ann,,"), kind=ImportJob.Kind.MEMBERS,
                  credit_points=True)
    assert job.credit_points is False  # only purchases earn points
    run_import_job(job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.summary["created"] == 1


def test_a_finished_job_is_never_run_again(store):
    job = new_job(store)
    assert run_import_job(job.pk) == "done"
    Purchase.objects.all().delete()
    assert run_import_job(job.pk) == "skipped"
    assert not Purchase.objects.exists()
    job.refresh_from_db()
    assert job.attempts == 1


def test_a_running_job_is_left_alone_until_its_lease_passes(store):
    job = new_job(store)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.WRITING, attempts=1,
                                               next_attempt_at=now + timedelta(minutes=5))
    assert run_import_job(job.pk) == "skipped"
    with time_machine.travel(now + timedelta(minutes=6)):
        assert run_import_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.attempts == 2


def test_an_unexpected_failure_is_retried_later_then_given_up(store, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(jobs.purchase_import, "import_purchases", broken)
    job = new_job(store)
    now = timezone.now()
    assert run_import_job(job.pk) == "queued"
    job.refresh_from_db()
    assert job.attempts == 1 and job.next_attempt_at > now
    for _attempt in range(2, jobs.MAX_ATTEMPTS + 1):
        run_import_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.Status.FAILED, jobs.MAX_ATTEMPTS)
    assert job.errors[0]["code"] == "failed"


def test_the_sweeper_queues_what_is_due(store, monkeypatch):
    queued = []
    monkeypatch.setattr(jobs, "queue", queued.append)
    now = timezone.now()
    due = new_job(store)
    new_job(store)  # just uploaded: the broker has it
    stalled = new_job(store)
    done = new_job(store)
    ImportJob.objects.filter(pk=due.pk).update(next_attempt_at=now - timedelta(seconds=1))
    ImportJob.objects.filter(pk=stalled.pk).update(status=ImportJob.Status.VALIDATING,
                                                   next_attempt_at=now - timedelta(minutes=1))
    ImportJob.objects.filter(pk=done.pk).update(status=ImportJob.Status.DONE,
                                                next_attempt_at=now - timedelta(minutes=1))
    assert requeue_stalled_imports() == 2
    assert sorted(queued) == sorted([due.pk, stalled.pk])


def test_progress_comes_from_the_running_worker(store):
    job = new_job(store)
    progress = jobs.JobProgress(job)
    progress.start("checking", 1000)
    progress.INTERVAL = 0
    progress.advance(250)
    state = jobs.job_progress(job)
    assert (state["status"], state["rows_done"], state["rows_total"], state["percent"]) == (
        ImportJob.Status.VALIDATING, 250, 1000, 25)
    assert state["finished"] is False
    progress.forget()


class _DownCache:
    """A cache whose server is down: every call raises, as django-redis's would."""

    def __getattr__(self, name):
        def refuse(*args, **kwargs):
            raise ConnectionError("Redis is down")
        return refuse


def test_an_import_runs_to_its_end_with_the_cache_down(store, monkeypatch):
    monkeypatch.setattr(jobs, "cache", _DownCache())
    job = new_job(store)
    jobs.run_job(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert job.summary["purchases_added"] == 2
    assert jobs.job_progress(job)["percent"] == 100


@pytest.mark.parametrize("content, field", [(b"", "file"), (b"x" * 11, "file")])
def test_an_empty_or_oversized_upload_is_refused(store, settings, content, field):
    settings.LOYALTY_IMPORT_MAX_BYTES = 10
    with pytest.raises(Invalid) as error:
        new_job(store, content)
    assert field in error.value.fields
    assert not ImportJob.objects.exists()


@pytest.mark.postgres
def test_a_job_another_worker_holds_is_left_alone(store):
    import psycopg
    from django.db import connection

    job = new_job(store)
    params = {key: value for key, value in connection.get_connection_params().items()
              if key in {"dbname", "user", "password", "host", "port"}}
    with psycopg.connect(**params, autocommit=True) as other_worker:
        other_worker.execute("SELECT pg_advisory_lock(%s, %s)",
                             [jobs.ADVISORY_LOCK_CLASS, job.pk])
        assert run_import_job(job.pk) == "skipped"
        job.refresh_from_db()
        assert (job.status, job.attempts) == (ImportJob.Status.QUEUED, 0)
        other_worker.execute("SELECT pg_advisory_unlock(%s, %s)",
                             [jobs.ADVISORY_LOCK_CLASS, job.pk])
    assert run_import_job(job.pk) == "done"
