import json
import zoneinfo
from datetime import datetime
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.core.management import CommandError, call_command

from loyalty.models import ClvFit, MemberInsight, Purchase
from loyalty.services.insight import clv_model
from tests.factories import make_member, programme
from tests.loyalty.services.insight import cdnow

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo(settings.TIME_ZONE)


def run(capsys, *args):
    call_command("clv", *args)
    out = capsys.readouterr().out.strip().splitlines()
    return out[:-1], json.loads(out[-1])


def test_clv_on_cdnow_prints_the_papers_parameters_as_json(store, capsys):
    programme(clv_min_repeat_customers=200)
    cdnow.load_into_db(store)
    lines, summary = run(capsys, "--calibration-end", "1997-09-30")
    assert summary["status"] == "ok"
    assert summary["members"] == 2357
    assert (summary["customers"], summary["repeat_customers"]) == (2357, 946)
    for name, published in cdnow.PUBLISHED_BGNBD.items():
        assert summary["bgnbd"][name] == pytest.approx(published, rel=0.02), name
    for name, published in cdnow.PUBLISHED_GAMMA_GAMMA.items():
        assert summary["gamma_gamma"][name] == pytest.approx(published, rel=0.02), name
    assert "2357 members" in lines[-1]
    assert MemberInsight.objects.filter(predicted_value__isnull=False).count() == 2357


def test_clv_with_too_little_history_says_so_and_prints_null_parameters(store, capsys):
    member = make_member()
    Purchase.objects.create(store=store, order_id="1", member=member, amount=Decimal("10"),
                            occurred_at=datetime(2024, 1, 5, 12, tzinfo=PARIS),
                            fingerprint="1", created_at=datetime(2024, 1, 5, tzinfo=PARIS))
    lines, summary = run(capsys, "--calibration-end", "2024-03-01")
    assert "Too little history" in lines[-1] and "No prediction was stored" in lines[-1]
    assert summary["status"] == "insufficient_data"
    assert summary["bgnbd"] == {"r": None, "alpha": None, "a": None, "b": None}
    assert summary["gamma_gamma"] == {"p": None, "q": None, "v": None}
    assert summary["members"] == 0
    assert (summary["customers"], summary["repeat_customers"]) == (1, 0)


@time_machine.travel(datetime(2024, 6, 1, 0, 30, tzinfo=PARIS), tick=False)
def test_clv_without_a_date_fits_up_to_today(db, capsys):
    _lines, summary = run(capsys)
    assert summary["calibration_end"] == "2024-06-01"
    assert ClvFit.objects.get().calibration_end.isoformat() == "2024-06-01"


@pytest.mark.parametrize("value, message", [
    ("30/09/1997", "YYYY-MM-DD"),
    ("1997-02-30", "YYYY-MM-DD"),
    ("2999-01-01", "cannot be in the future"),
])
def test_clv_refuses_a_bad_date_clearly(db, value, message):
    with pytest.raises(CommandError, match=message):
        call_command("clv", "--calibration-end", value)
    assert not ClvFit.objects.exists()


def test_clv_says_when_the_models_did_not_converge(store, capsys, monkeypatch):
    def diverge(*args, **kwargs):
        raise clv_model.FitError("Desired error not necessarily achieved")

    programme(clv_min_repeat_customers=200)
    cdnow.load_into_db(store)
    monkeypatch.setattr(clv_model, "fit_bgnbd", diverge)
    lines, summary = run(capsys, "--calibration-end", "1997-09-30")
    assert "did not converge" in lines[-1]
    assert summary["status"] == "failed" and summary["bgnbd"]["r"] is None
    assert not MemberInsight.objects.filter(predicted_value__isnull=False).exists()
