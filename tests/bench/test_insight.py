"""bench/insight.py end to end at a tiny size: it builds, times, reports and cleans up."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def server_url() -> str:
    """The PostgreSQL server the tests use; the bench makes its own database on it."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "postgres")
    password = f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{user}{password}@{host}{port}/postgres"


def database_exists(name: str) -> bool:
    import psycopg

    db = settings.DATABASES["default"]
    with psycopg.connect(host=db.get("HOST") or None, port=db.get("PORT") or None,
                         user=db.get("USER") or None, password=db.get("PASSWORD") or None,
                         dbname="postgres") as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                            [name]).fetchone() is not None


def test_bench_times_the_insight_run_against_the_baseline_and_drops_its_database():
    env = {**os.environ, "DATABASE_URL": "", "DJANGO_SETTINGS_MODULE": "loyalty.settings"}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "bench/insight.py", "--members", "1000", "--sizes", "300,1000",
         "--baseline-repeats", "1", "--no-save", "--database-url", server_url()],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout

    assert "1,000 members, 10,000 purchases" in out
    assert "300 members, 3,000 purchases" in out
    # Both runs at both sizes, each with its ratio to the baseline of the same size.
    assert len(re.findall(r"insight run 1 \(empty insight tables\): [\d.]+ s, [\d.]+x", out)) == 2
    assert len(re.findall(r"insight run 2 \(steady state\): [\d.]+ s, [\d.]+x", out)) == 2
    assert re.search(r"^\s+1,000\s+10,000\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+x\s+[\d.]+\s+[\d.]+x",
                     out, re.MULTILINE), out
    assert re.search(r"Peak RSS of this process during the runs: \d+ MB at 300 members", out)

    name = re.search(r"throwaway database (\S+) on", out).group(1)
    assert not database_exists(name)
