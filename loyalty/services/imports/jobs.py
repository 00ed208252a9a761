"""Staff uploads: an `ImportJob` holds the file, a Celery task runs it, a page follows it.

The file lives in the database, so any worker can run the job. A job is
queued when its upload commits; if the broker loses it, or its worker dies,
the sweeper (`requeue_stalled`, from beat) queues it again once its
`next_attempt_at` has passed: the broker only makes it start sooner. Running
a job claims it (a row lock, skipping a job another worker holds, and on
PostgreSQL a session advisory lock held for the whole run), so a job runs once
at a time and a finished job is never run again. While it runs, a worker
reports its progress (rows done) to the cache at every chunk, and to the job
row when outside the import's transaction (which also extends its lease).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone, translation

from loyalty.models import ImportJob, Store
from loyalty.services.errors import DomainError, Invalid
from loyalty.services.handoff import run_task
from loyalty.services.imports import members as member_import
from loyalty.services.imports import purchases as purchase_import
from loyalty.services.imports.csvfile import (
    CsvFile,
    ErrorList,
    ImportRejected,
    RowError,
    open_source,
)
from loyalty.services.imports.progress import Progress

logger = logging.getLogger(__name__)

Status = ImportJob.Status
RUNNING = (Status.VALIDATING, Status.WRITING)
MAX_ATTEMPTS = 3
# A job no worker has started this long after its upload is queued again by the sweeper.
QUEUE_GRACE = timedelta(minutes=2)
ADVISORY_LOCK_CLASS = 0x1A70  # pg_try_advisory_lock(class, job id): one runner per job


def lease() -> timedelta:
    """How long a running job may go without news before the sweeper tries it again."""
    return timedelta(minutes=settings.LOYALTY_IMPORT_LEASE_MINUTES)


def create_job(*, kind: str, store: Store, filename: str, content: bytes,
               credit_points: bool = False, by=None, now: datetime | None = None) -> ImportJob:
    """Keep an uploaded file as a job and queue it once this transaction commits.

    Raises Invalid for an unknown kind, an empty file or one above the size limit.
    """
    now = now or timezone.now()
    if kind not in ImportJob.Kind.values:
        raise Invalid(fields={"kind": "purchases or members"})
    if not content:
        raise Invalid(fields={"file": "the file is empty"})
    if len(content) > settings.LOYALTY_IMPORT_MAX_BYTES:
        raise Invalid(fields={"file": f"at most {settings.LOYALTY_IMPORT_MAX_BYTES} bytes"})
    job = ImportJob.objects.create(
        kind=kind, store=store, filename=(filename or "import.csv")[-255:],
        credit_points=credit_points and kind == ImportJob.Kind.PURCHASES,
        sha256=hashlib.sha256(content).hexdigest(), content=content, status=Status.QUEUED,
        next_attempt_at=now + QUEUE_GRACE,
        created_by=by if by is not None and by.is_authenticated else None)
    transaction.on_commit(partial(queue, job.pk))
    return job


def queue(job_id: int) -> None:
    """Hand a job to Celery; a broker that is down leaves it to the sweeper."""
    run_task("loyalty.tasks.run_import_job", job_id)


def requeue_stalled(*, now: datetime | None = None) -> int:
    """Queue again the jobs whose time has come: never started, retrying, or whose worker
    stopped reporting. Returns how many."""
    now = now or timezone.now()
    ids = list(ImportJob.objects.filter(status__in=[Status.QUEUED, *RUNNING],
                                        next_attempt_at__lte=now)
               .order_by("next_attempt_at").values_list("pk", flat=True)[:100])
    for job_id in ids:
        queue(job_id)
    return len(ids)


# --- running a job ---------------------------------------------------------------------------


@contextlib.contextmanager
def _runner_lock(job_id: int) -> Iterator[bool]:
    """On PostgreSQL, a session lock held while the job runs: a second worker handed the same
    job (a redelivered task, the sweeper) sees it taken and leaves it alone."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [ADVISORY_LOCK_CLASS, job_id])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)",
                               [ADVISORY_LOCK_CLASS, job_id])


def _claim(job_id: int, now: datetime) -> ImportJob | None:
    with transaction.atomic():
        job = (ImportJob.objects.select_for_update(skip_locked=True, of=("self",))
               .defer("content")
               .select_related("store", "created_by").filter(pk=job_id).first())
        if job is None or job.finished:
            return None
        if job.status in RUNNING and job.next_attempt_at and job.next_attempt_at > now:
            return None  # another worker has it and reported lately
        if job.attempts >= MAX_ATTEMPTS:
            _fail(job, {"variant": "stopped", "count": job.attempts}, now=now)
            return None
        job.status = Status.VALIDATING
        job.attempts += 1
        job.started_at = now
        job.next_attempt_at = now + lease()
        job.rows_done = 0
        job.save(update_fields=["status", "attempts", "started_at", "next_attempt_at",
                                "rows_done"])
        return job


def run_job(*, job_id: int) -> ImportJob | None:
    """Run one queued job to its end: done (with its summary), rejected (with its errors),
    or, on an unexpected failure, queued again later (failed after the last attempt).

    Returns the job, or None when there was nothing to do (finished, or running elsewhere).
    """
    now = timezone.now()
    with _runner_lock(job_id) as acquired:
        if not acquired:
            return None
        job = _claim(job_id, now)
        if job is None:
            return None
        progress = JobProgress(job)
        language = (job.created_by.language if job.created_by else "") or settings.LANGUAGE_CODE
        try:
            with translation.override(language):
                content = bytes(ImportJob.objects.values_list("content", flat=True)
                                .get(pk=job.pk))
                if job.kind == ImportJob.Kind.PURCHASES:
                    summary = purchase_import.import_purchases(
                        source=content, store=job.store, credit_points=job.credit_points,
                        progress=progress)
                else:
                    summary = member_import.import_members(source=content, store=job.store,
                                                           progress=progress)
        except ImportRejected as rejected:
            _finish(job, Status.REJECTED, errors=[e.as_dict() for e in rejected.errors],
                    error_count=rejected.error_count, rows_total=progress.rows_seen)
        except DomainError as error:
            _fail(job, {"reason": error.code}, now=timezone.now())
        except Exception:
            logger.exception("Import job %s failed", job.pk)
            _retry_later(job)
        else:
            _finish(job, Status.DONE, summary=summary, rows_total=summary.get("rows", 0))
        finally:
            progress.forget()
        job.refresh_from_db(fields=["status", "summary", "errors", "error_count", "rows_done",
                                    "rows_total", "finished_at", "next_attempt_at"])
        return job


def _finish(job: ImportJob, status: str, *, summary=None, errors=None, error_count: int = 0,
            rows_total: int = 0) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=status, summary=summary or {}, errors=errors or [], error_count=error_count,
        rows_total=rows_total, rows_done=rows_total if status == Status.DONE else 0,
        finished_at=timezone.now(), next_attempt_at=None)


def _fail(job: ImportJob, params: dict, *, now: datetime) -> None:
    """The job failed: recorded as the code `failed` and its params (no sentence: the
    message is rendered when read, in the reader's language)."""
    ImportJob.objects.filter(pk=job.pk).update(
        status=Status.FAILED, finished_at=now, next_attempt_at=None, error_count=1,
        errors=[RowError(0, "", "failed", params).as_dict()])


def _retry_later(job: ImportJob) -> None:
    now = timezone.now()
    if job.attempts >= MAX_ATTEMPTS:
        _fail(job, {"variant": "given_up", "count": job.attempts}, now=now)
        return
    ImportJob.objects.filter(pk=job.pk).update(
        status=Status.QUEUED, rows_done=0, next_attempt_at=now + lease() * job.attempts / 6)


# --- progress --------------------------------------------------------------------------------


def _progress_key(job_id: int) -> str:
    return f"import-job-progress:{job_id}"


class JobProgress(Progress):
    """A running job's progress: in the cache at once, on its row when it can commit."""

    INTERVAL = 0.5  # seconds between two reports

    def __init__(self, job: ImportJob):
        self.job_id = job.pk
        self.status = Status.VALIDATING
        self.done = self.total = self.rows_seen = 0
        self._last = 0.0

    def start(self, phase: str, total: int | None) -> None:
        self.status = Status.VALIDATING if phase == "checking" else Status.WRITING
        self.done, self.total = 0, total or 0
        self._report(force=True)

    def advance(self, count: int) -> None:
        self.done += count
        if self.status == Status.VALIDATING:
            self.rows_seen = self.done
        self._report()

    def _report(self, *, force: bool = False) -> None:
        clock = timezone.now()
        if not force and clock.timestamp() - self._last < self.INTERVAL:
            return
        self._last = clock.timestamp()
        state = {"status": self.status, "rows_done": min(self.done, self.total or self.done),
                 "rows_total": self.total}
        _best_effort(cache.set, _progress_key(self.job_id), state,
                     timeout=int(lease().total_seconds()))
        if not connection.in_atomic_block:
            # Outside the import's transaction: the row shows it, and the lease goes on.
            ImportJob.objects.filter(pk=self.job_id, status__in=RUNNING).update(
                **state, next_attempt_at=clock + lease())

    def forget(self) -> None:
        _best_effort(cache.delete, _progress_key(self.job_id))


def _best_effort(call, *args, **kwargs):
    """The cache only makes progress show sooner: an import never fails because Redis is
    down (the job row still shows progress whenever it can commit)."""
    try:
        return call(*args, **kwargs)
    except Exception:  # noqa: BLE001 - any cache backend's connection error
        logger.warning("import progress: the cache did not answer", exc_info=True)
        return None


def job_progress(job: ImportJob) -> dict:
    """What the job page shows: status, rows done of rows expected, percent, finished."""
    state = {"status": job.status, "rows_done": job.rows_done, "rows_total": job.rows_total}
    if not job.finished:
        state.update(_best_effort(cache.get, _progress_key(job.pk)) or {})
    total, done = state["rows_total"], state["rows_done"]
    return {**state, "status_label": str(Status(state["status"]).label),
            "percent": 100 if job.finished else (min(99, done * 100 // total) if total else 0),
            "finished": job.finished}


# --- the rejected rows, to fix and upload again ------------------------------------------------


class _Echo:
    def write(self, value: str) -> str:
        return value


def rejected_rows_csv(job: ImportJob) -> Iterator[str]:
    """The rows of a rejected file that failed, as they were, with `line` and `error` columns.

    Every row is checked again as it was (what needs no database); the errors found
    against the whole file or the database are those the job recorded (the first ones).
    The messages are in the active language.
    """
    reported = defaultdict(list)
    for error in job_errors(job):
        reported[error.line].append(_described(error))
    now = job.started_at or job.created_at or timezone.now()
    required, optional = ((purchase_import.REQUIRED, purchase_import.OPTIONAL)
                          if job.kind == ImportJob.Kind.PURCHASES else
                          (member_import.REQUIRED, member_import.OPTIONAL))
    yield "\ufeff"  # a byte-order mark, so that a spreadsheet reads UTF-8
    with open_source(bytes(job.content)) as stream:
        csv_file = CsvFile(stream, required=required, optional=optional, errors=ErrorList())
        writer = csv.writer(_Echo(), delimiter=csv_file.delimiter)
        width = len(csv_file.header)
        yield writer.writerow([*csv_file.header, "line", "error"])
        parser = purchase_import.RowParser(now=now)
        for row in csv_file:
            found = ErrorList()
            if job.kind == ImportJob.Kind.PURCHASES:
                parser.parse(row, found)
            else:
                member_import.parse_row(row, now=now, errors=found)
            messages = [_described(error) for error in found.first]
            messages += [m for m in reported.pop(row.line, []) if m not in messages]
            if messages:
                yield writer.writerow([*row.fields, row.line, "; ".join(messages)])
        for line in sorted(reported):  # file-level errors, and rows no longer readable
            yield writer.writerow([*([""] * width), line, "; ".join(reported[line])])


def _described(error: RowError) -> str:
    return f"{error.column}: {error.message}" if error.column else error.message


def job_errors(job: ImportJob) -> list[RowError]:
    """The errors a job recorded; each one's `message` is rendered when read."""
    return [RowError.from_dict(error) for error in job.errors or []]
