"""`segment`: recompute the insight, print a summary and the contract's JSON last line."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from loyalty.models import InsightRun, MemberInsight
from loyalty.services.insight import clv, run
from tests.loyalty.services.insight.shop import NOW, buy, members

pytestmark = pytest.mark.django_db


def test_the_last_line_is_the_json_summary_with_segment_codes(monkeypatch):
    monkeypatch.setattr(clv, "fit_and_score", lambda **kwargs: None)
    customers = members(6)
    buy([(customer, NOW, "10.00") for customer in customers[:4]])
    out = StringIO()
    call_command("segment", stdout=out)
    lines = out.getvalue().strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["members"] == 6 == MemberInsight.objects.count()
    assert "champions" in summary["segments"] and "at_risk" in summary["segments"]
    assert sum(summary["segments"].values()) == 4
    assert summary["stages"]["prospect"] == 2
    assert "Champions" in out.getvalue()  # the human part names them
    assert InsightRun.objects.count() == 1


def test_without_clv_the_lifetime_value_is_left_alone(monkeypatch):
    def fail(**kwargs):
        raise AssertionError("fitted")

    monkeypatch.setattr(clv, "fit_and_score", fail)
    out = StringIO()
    call_command("segment", "--without-clv", stdout=out)
    assert json.loads(out.getvalue().splitlines()[-1])["members"] == 0


@pytest.mark.postgres
def test_a_run_already_in_progress_is_a_command_error():
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [run.LOCK_KEY])
        with pytest.raises(CommandError, match="already running"):
            call_command("segment", "--without-clv", stdout=StringIO())
    finally:
        other.close()
