"""import_members: members leaving another programme, with their consents and their points."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.management import call_command

from loyalty.models import Card, ConsentChange, ExternalId, Member, PointsEntry, PointsLot
from loyalty.services.cards import is_valid_card_number
from loyalty.services.imports import ImportRejected
from loyalty.services.imports.members import import_members
from tests.factories import StoreFactory, TierFactory, make_member, programme
from tests.loyalty.services.imports.conftest import csv_file

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HEADER = "customer_ref,email,phone,first_name,last_name,birth_date"
FULL = (HEADER + ",email_marketing,email_marketing_at,sms_marketing,sms_marketing_at,"
        "consent_source,opening_balance")


def run(*rows: str, header: str = FULL, **kwargs) -> dict:
    return import_members(source=csv_file(header, *rows), now=NOW, **kwargs)


def rejected(*rows: str, header: str = FULL, **kwargs) -> ImportRejected:
    with pytest.raises(ImportRejected) as error:
        run(*rows, header=header, **kwargs)
    return error.value


def test_new_members_are_enrolled_with_card_tier_and_external_id(store):
    base = TierFactory(code="base", rank=0, threshold=0)
    summary = run("R1,Ann@Example.com,06 12 34 56 78,Ann,Lee,1980-02-03,,,,,,",
                  "R2,,,Bob,,,,,,,,", header=FULL)
    assert summary == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0,
                       "points_credited": 0, "store": "paris"}
    ann = Member.objects.get(email="ann@example.com")
    assert (ann.phone, ann.first_name, ann.birth_date) == ("+33612345678", "Ann",
                                                          date(1980, 2, 3))
    assert ann.tier == base and is_valid_card_number(ann.card_number)
    assert Card.objects.filter(member=ann).count() == 1
    assert set(ExternalId.objects.filter(store=store).values_list("value", flat=True)) == {
        "R1", "R2"}


def test_members_are_matched_by_ref_then_email_then_phone_and_only_completed(store):
    by_ref = make_member(email="ref@example.com", external_id="R1", store=store,
                         first_name="Kept")
    by_email = make_member(email="mail@example.com")
    by_phone = make_member(phone="+33611111111", email="")
    summary = run("R1,,,Replaced,Lee,,", "R2,MAIL@example.com,,,,1990-01-01",
                  "R3,,0611111111,,,", header=HEADER)
    assert summary == {"rows": 3, "created": 0, "updated": 3, "unchanged": 0,
                       "points_credited": 0, "store": "paris"}
    by_ref.refresh_from_db()
    assert (by_ref.first_name, by_ref.last_name) == ("Kept", "Lee")  # kept, and completed
    by_email.refresh_from_db()
    assert by_email.birth_date == date(1990, 1, 1)
    refs = dict(ExternalId.objects.filter(store=store).values_list("value", "member_id"))
    assert refs == {"R1": by_ref.pk, "R2": by_email.pk, "R3": by_phone.pk}
    assert Member.objects.count() == 3


def test_a_row_matching_two_different_members_is_rejected_with_its_line(store):
    first = make_member(email="a@example.com", external_id="R1", store=store)
    second = make_member(email="b@example.com", phone="+33622222222")
    error = rejected("R9,,,New,,", "R1,b@example.com,,,,", "R8,a@example.com,0622222222,,,",
                     header=HEADER)
    assert [(e.line, e.column, e.code) for e in error.errors] == [
        (3, "email", "member_ambiguous"), (4, "phone", "member_ambiguous")]
    assert first.card_number in error.errors[0].message
    assert second.card_number in error.errors[0].message
    # Nothing was written, not even the good first row.
    assert Member.objects.count() == 2 and not ExternalId.objects.filter(value="R9").exists()


def test_consents_are_history_with_the_date_and_source_given(store):
    run("R1,a@example.com,+33612345678,,,,yes,2021-04-05,no,2022-01-02T10:00:00+01:00,"
        "old-crm,")
    member = Member.objects.get()
    history = sorted(ConsentChange.objects.values_list("channel", "granted", "source", "at"))
    assert history == [
        ("email", True, "old-crm", datetime(2021, 4, 4, 22, 0, tzinfo=UTC)),
        ("sms", False, "old-crm", datetime(2022, 1, 2, 9, 0, tzinfo=UTC))]
    assert member.email_marketing is True
    assert member.email_marketing_at == datetime(2021, 4, 4, 22, 0, tzinfo=UTC)
    assert (member.sms_marketing, member.sms_marketing_at) == (
        False, datetime(2022, 1, 2, 9, 0, tzinfo=UTC))


def test_a_source_defaults_to_import_and_an_undated_no_changes_nothing(store):
    run("R1,a@example.com,,,,,yes,2021-04-05,no,,,")
    member = Member.objects.get()
    assert list(ConsentChange.objects.values_list("channel", "source")) == [("email", "import")]
    assert (member.sms_marketing, member.sms_marketing_at) == (False, None)


def test_an_older_consent_is_history_only_a_newer_one_changes_the_member(store):
    member = make_member(email="a@example.com", external_id="R1", store=store)
    member.email_marketing, member.email_marketing_at = False, datetime(2023, 1, 1, tzinfo=UTC)
    member.save()
    run("R1,,,,,,yes,2020-01-01,,,,")
    member.refresh_from_db()
    assert member.email_marketing is False  # the member's own later refusal stands
    assert ConsentChange.objects.filter(member=member, granted=True).count() == 1
    run("R1,,,,,,yes,2024-01-01,,,,")
    member.refresh_from_db()
    assert member.email_marketing is True
    assert member.email_marketing_at == datetime(2023, 12, 31, 23, 0, tzinfo=UTC)


def test_a_yes_without_a_date_is_refused_and_a_date_without_an_answer_too(store):
    error = rejected("R1,a@example.com,,,,,yes,,,,,", "R2,b@example.com,,,,,,,,2020-01-01,,",
                     "R3,c@example.com,,,,,maybe,2020-01-01,,,,")
    assert [(e.line, e.column, e.code) for e in error.errors] == [
        (2, "email_marketing_at", "consent_date_required"),
        (3, "sms_marketing", "consent_value_required"),
        (4, "email_marketing", "invalid_choice")]
    assert not Member.objects.exists()


def test_bad_cells_are_reported_by_line_and_nothing_is_written(store):
    error = rejected("R1,not-an-email,,,,,,,,,,", "R2,,123,,,,,,,,,",
                     "R3,,,,,1850-01-01,,,,,,", "R4,,,,,03/02/1980,,,,,,",
                     "R5,,,,,,,,,,,-5", "R6,,,,,,,,,,,1.5", ",,,Nobody,,,,,,,,",
                     "R7,,,,,,yes,2099-01-01,,,,", "R8,a@example.com,,,,,,,,,,")
    assert [(e.line, e.column, e.code) for e in error.errors] == [
        (2, "email", "invalid_email"), (3, "phone", "invalid_phone"),
        (4, "birth_date", "implausible_date"), (5, "birth_date", "invalid_date"),
        (6, "opening_balance", "invalid_number"), (7, "opening_balance", "invalid_number"),
        (8, "", "no_identity"), (9, "email_marketing_at", "in_future")]
    assert not Member.objects.exists()


def test_an_opening_balance_is_one_dated_migration_entry_credited_once(store, capsys):
    programme(points_validity_days=200, return_window_days=0)
    summary = run("R1,a@example.com,,,,,,,,,,1500", "R2,b@example.com,,,,,,,,,,0")
    assert summary["points_credited"] == 1500
    member = Member.objects.get(email="a@example.com")
    entry = PointsEntry.objects.get()
    assert (entry.member, entry.kind, entry.points, entry.created_at, entry.store) == (
        member, "migration", 1500, NOW, store)
    lot = PointsLot.objects.get()
    assert (lot.available_at, lot.expires_at, lot.qualifying) == (
        NOW, NOW + timedelta(days=200), False)
    assert (member.balance, member.pending, member.lifetime_earned) == (1500, 0, 0)
    call_command("check_ledger")
    assert '"ok": true' in capsys.readouterr().out

    again = run("R1,a@example.com,,,,,,,,,,1500", "R2,b@example.com,,,,,,,,,,0")
    assert again == {"rows": 2, "created": 0, "updated": 0, "unchanged": 2,
                     "points_credited": 0, "store": "paris"}
    assert PointsEntry.objects.count() == 1
    # Another file with another balance for the same member credits nothing either.
    assert run("R1,,,,,,,,,,,99")["points_credited"] == 0


def test_two_rows_giving_one_member_a_balance_are_rejected(store):
    error = rejected("R1,a@example.com,,,,,,,,,,100", "R2,a@example.com,,,,,,,,,,50")
    assert [(e.line, e.column, e.code) for e in error.errors] == [
        (3, "opening_balance", "duplicate_balance")]
    assert "line 2" in error.errors[0].message
    assert not Member.objects.exists() and not PointsEntry.objects.exists()


def test_a_repeated_row_without_balance_is_the_same_member(store):
    summary = run("R1,a@example.com,,Ann,,", "R1,a@example.com,,Ann,,", header=HEADER)
    assert (summary["created"], summary["unchanged"]) == (1, 1)


def test_without_a_store_external_ids_go_to_the_first_active_store(db):
    StoreFactory(code="closed", active=False)
    first = StoreFactory(code="first")
    StoreFactory(code="second")
    summary = run("R1,a@example.com,,,,", header=HEADER)
    assert summary["store"] == "first"
    assert ExternalId.objects.get().store == first


def test_a_store_can_be_named(store):
    web = StoreFactory(code="web")
    run("R1,a@example.com,,,,", header=HEADER, store=web)
    assert ExternalId.objects.get().store == web
