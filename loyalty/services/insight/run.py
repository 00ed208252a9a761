"""The insight run: nightly (beat), on demand (`segment`, the admin), and after `seed_demo`.

Steps, in one transaction (readers keep seeing the previous run until it commits):
a. drop the members no longer active (`stats`);
b. the lifetime value models, fitted and scored (`clv`) into a temporary table, unless
   `with_clv=False`;
   then each active member's figures and RFM scores (`stats`), written with the
   lifetime value in one upsert;
c. lifecycle stages (`stages`), which use the scores and the probability of being
   active;
d. segments (`segments`), whose rules may use the scores, the stage, the tier and
   the predicted value;
e. the monthly snapshot, on the month's first run (`snapshots`);
f. an InsightRun row with what was found.

Each step is a few set-based statements over all members (on PostgreSQL; see
`stats` for SQLite): the number of queries does not grow with the members. Two runs
never overlap: on PostgreSQL a run holds a transaction-level advisory lock, and a
second one meanwhile fails at once with InsightRunning. Running twice in a row is
harmless: the second finds nothing changed, sends no webhook and writes no second
snapshot for the month.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty.models import ClvFit, InsightRun, Programme
from loyalty.services.errors import Conflict
from loyalty.services.insight import segments, snapshots, sql, stages, stats
from loyalty.services.insight.clock import Clock

logger = logging.getLogger(__name__)
# pg_try_advisory_xact_lock key of the insight run ("insight" in ASCII, as a number).
LOCK_KEY = 0x696E7369676874
WORK_MEM = sql.BATCH_WORK_MEM  # what the run's transaction gets (bench/insight.py reads it)


class InsightRunning(Conflict):
    code = "insight_running"
    default_message = _("The insight computation is already running; try again when it "
                        "has finished.")


def run_insight(*, now: datetime | None = None, by=None, with_clv: bool = True) -> InsightRun:
    """Recompute every member's scores, value, stage and segment as of `now` (default: now).

    `by` is the user who asked for it (None for the nightly run). Raises
    InsightRunning when another run holds the lock (PostgreSQL). Returns the
    InsightRun, whose summary is {"members", "segments": {code: count},
    "stages": {stage: count}, "at", "clv"}.
    """
    started = timezone.now()
    clock = Clock.at(now or started)
    programme = Programme.load()
    with transaction.atomic():
        if sql.is_postgres():
            if not sql.fetch_value("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY]):
                raise InsightRunning
            # More work_mem, no JIT (this transaction only).
            sql.batch_settings()
        # The programme's first run stages and segments everybody at once: a record,
        # not news, so it sends no webhook.
        notify = InsightRun.objects.exists()
        stats.drop_inactive(now=clock.now)
        # The lifetime value first, into a temporary table (its customers come from the
        # purchases alone); the refresh writes it with the figures: each row written once
        # (a row updated twice in a transaction re-checks its deferred foreign keys at
        # commit: seconds at a million members).
        fit = _fit_clv(clock) if with_clv else None
        scored = stats.refresh(clock=clock, programme=programme, with_scores=fit is not None)
        if fit is not None:
            _recorded_clv(fit, scored)
        stage_changes = stages.assign(clock=clock, programme=programme, notify=notify)
        segment_changes = segments.assign(clock=clock, notify=notify)
        snapshot_rows = snapshots.take_monthly(clock=clock)
        summary = {**snapshots.summarise(), "at": clock.now.isoformat(),
                   "clv": str(fit.status) if fit is not None else None,
                   "changes": {"stages": stage_changes, "segments": segment_changes},
                   "snapshot_rows": snapshot_rows}
        run = InsightRun.objects.create(started_at=started, finished_at=timezone.now(),
                                        members=summary["members"], summary=summary,
                                        triggered_by=by)
    logger.info("insight run: %s members in %.1f s", run.members,
                (run.finished_at - run.started_at).total_seconds())
    return run


def _fit_clv(clock: Clock) -> ClvFit | None:
    from loyalty.services.insight import clv

    # The scores stay in clv_scores for stats.refresh to write.
    return clv.fit_and_score(now=clock.now, write=False)


def _recorded_clv(fit: ClvFit, scored: int) -> None:
    from loyalty.services.insight import clv

    clv.written_with_scores(fit=fit, members=scored)
