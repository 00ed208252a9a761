"""bench/nightly.py end to end at a tiny size: it builds a sound ledger, times each job
against its bare statement, reports and cleans up."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.bench.test_insight import ROOT, database_exists, server_url

pytestmark = pytest.mark.postgres

JOBS = ("check_ledger (before)", "reevaluate_tiers", "release_pending_points",
        "check_ledger (after)", "notify_expiring_points", "dispatch_webhooks")


def test_bench_times_each_nightly_job_against_its_bare_statement_and_drops_its_database():
    env = {**os.environ, "DATABASE_URL": "", "DJANGO_SETTINGS_MODULE": "loyalty.settings"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "bench/nightly.py", "--members", "1000", "--sizes", "300,1000",
         "--repeats", "1", "--no-save", "--database-url", server_url()],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout

    assert "== 1,000 members, 10,000 purchases ==" in out
    assert "== 300 members, 3,000 purchases ==" in out
    for job in JOBS:  # at both sizes, each with its ratio (check_ledger clean, or it stops)
        assert len(re.findall(rf"{re.escape(job)}: [\d.]+ s against bare [\d.]+ s "
                              rf"\([\d.]+x\); peak RSS \d+ MB", out)) == 2, out
    changed = re.findall(r"reevaluate_tiers: .*; ([\d,]+) changed \(bare: ([\d,]+)\)", out)
    assert changed and all(job == bare and job != "0" for job, bare in changed), out
    due = re.findall(r"([\d,]+) expiry entries \(bare: ([\d,]+)\)", out)
    assert due and all(job == bare for job, bare in due), out
    assert "uses entry_member_history" in out
    assert re.search(r"Peak RSS of this process during the jobs: \d+ MB at 300 members", out)

    name = re.search(r"throwaway database (\S+) on", out).group(1)
    assert not database_exists(name)
