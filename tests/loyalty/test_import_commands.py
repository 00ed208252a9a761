"""The import commands as an outside script calls them: a file, a summary, a JSON last line."""

import json

import pytest
from django.core.management import CommandError, call_command

from loyalty.models import Member, PointsEntry, Purchase

pytestmark = pytest.mark.django_db


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(*args, capsys) -> tuple[str, dict, str]:
    call_command(*args)
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return lines[-2], json.loads(lines[-1]), err


def test_import_purchases_prints_a_summary_line_then_json(tmp_path, store, capsys):
    path = write(tmp_path, "history.csv", "customer_ref,order_id,occurred_at,amount\n"
                                          "C1,O1,2024-03-01,10.00\nC1,O2,2024-03-02,5.00\n")
    human, summary, err = run("import_purchases", path, "--store", "paris", capsys=capsys)
    assert human == ("2 rows: 2 purchases added, 0 already present, 1 members created, "
                     "0 points credited.")
    assert {key: summary[key] for key in ("rows", "members_created", "purchases_added",
                                          "already_present")} == {
        "rows": 2, "members_created": 1, "purchases_added": 2, "already_present": 0}
    assert err == ""  # no progress bar when stderr is not a terminal
    _human, again, _err = run("import_purchases", path, "--store", "paris", capsys=capsys)
    assert (again["purchases_added"], again["already_present"]) == (0, 2)


def test_a_rejected_file_lists_its_errors_exits_non_zero_and_writes_nothing(
        tmp_path, store, capsys):
    rows = "".join(f"C{n},O{n},2024-03-01,{'x' if n % 3 else '1.00'}\n" for n in range(1, 181))
    path = write(tmp_path, "bad.csv", "customer_ref,order_id,occurred_at,amount\n" + rows)
    with pytest.raises(CommandError, match="rejected .120 errors.: nothing was imported"):
        call_command("import_purchases", path, "--store", "paris")
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("line 2: amount: ")
    assert len(err) == 101 and err[-1] == "... and 20 more"
    assert not Purchase.objects.exists() and not Member.objects.exists()


def test_credit_points_is_passed_through(tmp_path, store, scale, capsys):
    path = write(tmp_path, "h.csv", "customer_ref,order_id,occurred_at,amount\n"
                                    "C1,O1,2025-01-01,10.00\n")
    _human, summary, _err = run("import_purchases", path, "--store", "paris", "--credit-points",
                                capsys=capsys)
    assert summary["credit_points"] is True
    assert PointsEntry.objects.filter(kind="earn").exists()


@pytest.mark.parametrize("args, message", [
    (["missing.csv", "--store", "paris"], "No such file"),
    (["{path}", "--store", "nowhere"], "No store with the code"),
])
def test_a_missing_file_or_store_is_a_plain_error(tmp_path, store, args, message):
    path = write(tmp_path, "h.csv", "customer_ref,order_id,occurred_at,amount\n")
    args = [arg.format(path=path) for arg in args]
    with pytest.raises(CommandError, match=message):
        call_command("import_purchases", *args)


def test_import_members_prints_its_summary_and_defaults_to_the_first_store(
        tmp_path, store, capsys):
    path = write(tmp_path, "members.csv",
                 "customer_ref,email,phone,first_name,last_name,birth_date,opening_balance\n"
                 "R1,a@example.com,,Ann,,,120\nR2,b@example.com,,,,,\n")
    human, summary, _err = run("import_members", path, capsys=capsys)
    assert human == ("2 rows: 2 members created, 0 updated, 0 unchanged, 120 points "
                     "credited.")
    assert summary == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0,
                       "points_credited": 120, "store": "paris"}
    _human, again, _err = run("import_members", path, "--store", "paris", capsys=capsys)
    assert (again["unchanged"], again["points_credited"]) == (2, 0)


def test_import_members_rejects_a_row_matching_two_members(tmp_path, store, capsys):
    from tests.factories import make_member

    make_member(email="a@example.com")
    make_member(email="b@example.com", phone="+33612345678")
    path = write(tmp_path, "members.csv", "customer_ref,email,phone,first_name,last_name,"
                                          "birth_date\nR1,a@example.com,0612345678,,,\n")
    with pytest.raises(CommandError, match="rejected"):
        call_command("import_members", path)
    assert capsys.readouterr().err.startswith("line 2: phone: Matches two different members")
