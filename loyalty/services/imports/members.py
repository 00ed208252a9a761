"""`import_members`: members moving from another programme, as the contract specifies it.

Columns `customer_ref,email,phone,first_name,last_name,birth_date`, and
optionally `email_marketing,email_marketing_at,sms_marketing,sms_marketing_at,
consent_source,opening_balance`. The rules:

- A row names at least a customer_ref, an email or a phone. It is matched
  like everywhere else in the programme (`existing_member_for`): by the
  customer_ref as an external id of the store, by the normalised email, by the
  normalised phone. All of those it gives must lead to the same member or to
  none: a row that matches two different members is rejected with its line,
  never guessed. No match: a new member (`create_member`: card, base tier).
- A matched member gets what it lacks (email, phone, names, birth date, the
  customer_ref as an external id of the store); what it has is kept: the
  programme's data is the newer.
- Consents: `yes` or `no` (also true/false, 1/0, oui/non) with the date it was
  given, and `consent_source` (default "import"). Each becomes a dated
  `ConsentChange` in the member's history (once: the same channel, answer and
  date is not recorded twice); the member's current consent follows it only if
  that date is newer than the one the member has. A `yes` without a date is
  refused, since a consent's date is never invented; a `no` without a date
  changes nothing (not having consented is where everyone starts).
- `opening_balance` (a whole number): credited once per member, ever, as one
  `migration` ledger entry through the ledger, dated at the import, spendable
  at once, expiring after the programme's points validity counted from the
  import; neither "earned" (lifetime points) nor qualifying for tiers. A
  member who already holds a migration entry is skipped, so a re-import
  credits nothing; two rows of one file giving the same member a balance are
  rejected.

Every row is checked first (nothing read from the database); then one
transaction goes through the rows in order, a chunk at a time, through the
members' and the ledger's services; a row that matches two members is
reported and, at the end, the whole transaction is rolled back. A file is
imported entirely or not at all. The per-row services make this path a few
hundred rows a second: fine for a programme moved once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from loyalty.models import ConsentChange, ExternalId, Member, PointsEntry, Store
from loyalty.services import history, ledger
from loyalty.services.earning import current_programme
from loyalty.services.errors import DomainError, Invalid
from loyalty.services.imports import values
from loyalty.services.imports.csvfile import (
    CsvFile,
    ErrorList,
    ImportRejected,
    Row,
    Source,
    estimate_rows,
    open_source,
)
from loyalty.services.imports.progress import Progress
from loyalty.services.members import create_member, existing_member_for
from loyalty.services.members import normalise_phone as _normalise_phone

REQUIRED = ("customer_ref", "email", "phone", "first_name", "last_name", "birth_date")
OPTIONAL = ("email_marketing", "email_marketing_at", "sms_marketing", "sms_marketing_at",
            "consent_source", "opening_balance")
CHANNELS = ("email", "sms")
CHUNK = 500
DEFAULT_SOURCE = "import"


@dataclass
class MemberRow:
    line: int
    customer_ref: str
    email: str
    phone: str
    first_name: str
    last_name: str
    birth_date: date | None
    source: str
    opening_balance: int
    consents: list[tuple[str, bool, datetime]] = field(default_factory=list)


def default_store() -> Store:
    """Without a store named, external ids go to the first active store (by id)."""
    store = Store.objects.filter(active=True).order_by("pk").first()
    if store is None:
        raise Invalid(fields={"store": "there is no active store"})
    return store


def import_members(*, source: Source, store: Store | None = None,
                   progress: Progress | None = None, now: datetime | None = None) -> dict:
    """Import members from another programme; returns the summary.

    Raises ImportRejected (errors by line) when any row is wrong or matches
    two members: then nothing was written.
    """
    now = now or timezone.now()
    store = store or default_store()
    progress = progress or Progress()
    errors = ErrorList()
    try:
        progress.start("checking", estimate_rows(source))
        rows = 0
        for _row in _rows(source, now=now, errors=errors):
            rows += 1
            if rows % CHUNK == 0:
                progress.advance(CHUNK)
        if errors:
            raise ImportRejected(errors)
        progress.start("writing", rows)
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        points = 0
        run = uuid.uuid4().hex[:12]  # marks this run's migration entries
        with transaction.atomic():
            for done, row in enumerate(_rows(source, now=now, errors=errors), start=1):
                try:
                    outcome, credited = _apply(row, store=store, now=now, run=run)
                except RowProblem as problem:
                    errors.add(row.line, problem.column, problem.code, problem.params)
                else:
                    counts[outcome] += 1
                    points += credited
                if done % CHUNK == 0:
                    progress.advance(CHUNK)
            if errors:
                raise ImportRejected(errors)
        progress.advance(rows % CHUNK)
        return {"rows": rows, **counts, "points_credited": points, "store": store.code}
    finally:
        progress.close()


def _rows(source: Source, *, now: datetime, errors: ErrorList):
    """The file's rows, checked: the good ones parsed, the bad ones in `errors`."""
    with open_source(source) as stream:
        csv_file = CsvFile(stream, required=REQUIRED, optional=OPTIONAL, errors=errors)
        if not csv_file.ok:
            raise ImportRejected(errors)
        for row in csv_file:
            parsed = parse_row(row, now=now, errors=errors)
            if parsed is not None:
                yield parsed


# --- one row alone -----------------------------------------------------------------------------


def _phone(value: str) -> str:
    try:
        return _normalise_phone(value)
    except Invalid as error:
        raise values.from_invalid(error, "invalid_phone") from None


def _ref(value: str) -> str:
    return values.identifier(value) if value else ""


def parse_row(row: Row, *, now: datetime, errors: ErrorList) -> MemberRow | None:
    """The row checked (no database): a MemberRow, or None with its errors recorded."""
    get = row.values.get
    before = errors.count
    today = timezone.localdate(now)

    def cell(column, parse, *args, **kwargs):
        try:
            return parse(get(column, ""), *args, **kwargs)
        except values.BadValue as bad:
            errors.add(row.line, column, bad.code, bad.params)
            return None

    parsed = {
        "customer_ref": cell("customer_ref", _ref),
        "email": cell("email", values.email),
        "phone": cell("phone", _phone),
        "first_name": cell("first_name", values.text),
        "last_name": cell("last_name", values.text),
        "birth_date": cell("birth_date", values.birth_date, today=today),
        "source": cell("consent_source", values.text, max_length=50),
        "opening_balance": cell("opening_balance", values.whole_number,
                                maximum=ledger.MAX_POINTS_PER_ENTRY),
    }
    consents = []
    for channel in CHANNELS:
        granted = cell(f"{channel}_marketing", values.yes_no)
        at = (cell(f"{channel}_marketing_at", values.local_datetime, now=now, max_age_days=None)
              if get(f"{channel}_marketing_at") else None)
        if granted is None and at is not None and not get(f"{channel}_marketing"):
            errors.add(row.line, f"{channel}_marketing", "consent_value_required")
        elif granted and at is None and get(f"{channel}_marketing_at", "") == "":
            errors.add(row.line, f"{channel}_marketing_at", "consent_date_required")
        elif granted is not None and at is not None:
            consents.append((channel, granted, at))
    if errors.count == before and not (
            parsed["customer_ref"] or parsed["email"] or parsed["phone"]):
        errors.add(row.line, "", "no_identity")
    if errors.count > before:
        return None
    return MemberRow(line=row.line, customer_ref=parsed["customer_ref"],
                     email=parsed["email"], phone=parsed["phone"],
                     first_name=parsed["first_name"], last_name=parsed["last_name"],
                     birth_date=parsed["birth_date"],
                     source=parsed["source"] or DEFAULT_SOURCE,
                     opening_balance=parsed["opening_balance"] or 0, consents=consents)


# --- one row against the programme -------------------------------------------------------------


class RowProblem(Exception):
    def __init__(self, column: str, code: str, params: dict | None = None):
        self.column, self.code, self.params = column, code, params or {}
        super().__init__(code)


def match(row: MemberRow, *, store: Store) -> Member | None:
    """The one member this row's identities lead to, or None. Raises RowProblem when they
    lead to two different members (or to a closed one)."""
    found: dict[int, tuple[str, Member]] = {}
    for column, identity in (("customer_ref", {"external_id": row.customer_ref,
                                               "store": store}),
                             ("email", {"email": row.email}), ("phone", {"phone": row.phone})):
        if not getattr(row, column):
            continue
        member = existing_member_for(**identity)
        if member is not None:
            found.setdefault(member.pk, (column, member))
    if len(found) > 1:
        (first_column, first), (second_column, second) = list(found.values())[:2]
        raise RowProblem(second_column, "member_ambiguous", {
            "first": first.card_number, "first_column": first_column,
            "second": second.card_number, "second_column": second_column})
    if not found:
        return None
    column, member = next(iter(found.values()))
    if not member.is_active:
        raise RowProblem(column, "member_closed")
    return member


def _apply(row: MemberRow, *, store: Store, now: datetime, run: str) -> tuple[str, int]:
    """Create or complete the member of one row; returns (outcome, points credited)."""
    member = match(row, store=store)
    if member is None:
        try:
            member = create_member(
                email=row.email, phone=row.phone, first_name=row.first_name,
                last_name=row.last_name, birth_date=row.birth_date,
                external_id=row.customer_ref, store=store)
        except DomainError as error:
            # The error's fields are English phrases for the API: the row error keeps the
            # code (its message is in messages.py), and the field it names.
            column = next(iter(error.fields), "")
            raise RowProblem(column if column in REQUIRED else "", error.code) from None
        outcome = "created"
    else:
        outcome = "updated" if _complete(member, row, store=store) else "unchanged"
    changed = _record_consents(member, row)
    credited = _credit_opening_balance(member, row, store=store, now=now, run=run)
    if outcome == "unchanged" and (changed or credited):
        outcome = "updated"
    return outcome, credited


def _complete(member: Member, row: MemberRow, *, store: Store) -> bool:
    """Fill what the member lacks from the row; keep what it has."""
    changed = [name for name in ("email", "phone", "first_name", "last_name", "birth_date")
               if not getattr(member, name) and getattr(row, name)]
    for name in changed:
        setattr(member, name, getattr(row, name))
    if changed:
        member.save(update_fields=[*changed, "updated_at"])
    linked = False
    if row.customer_ref and not ExternalId.objects.filter(store=store,
                                                          value=row.customer_ref).exists():
        ExternalId.objects.create(member=member, store=store, value=row.customer_ref)
        linked = True
    return bool(changed) or linked


def _record_consents(member: Member, row: MemberRow) -> bool:
    """Each consent as dated history, once; the member's own follows the newest."""
    changed = []
    recorded = False
    for channel, granted, at in row.consents:
        if not ConsentChange.objects.filter(member=member, channel=channel, granted=granted,
                                            at=at).exists():
            ConsentChange.objects.create(member=member, channel=channel, granted=granted,
                                         source=row.source[:50], at=at)
            recorded = True
        current = getattr(member, f"{channel}_marketing_at")
        if current is None or at > current:
            setattr(member, f"{channel}_marketing", granted)
            setattr(member, f"{channel}_marketing_at", at)
            changed += [f"{channel}_marketing", f"{channel}_marketing_at"]
    if changed:
        member.save(update_fields=[*changed, "updated_at"])
    return recorded or bool(changed)


def _credit_opening_balance(member: Member, row: MemberRow, *, store: Store, now: datetime,
                            run: str) -> int:
    if not row.opening_balance:
        return 0
    locked = ledger.lock_member(member.pk)
    prior = (PointsEntry.objects.filter(member=locked, kind=PointsEntry.Kind.MIGRATION)
             .order_by("pk").first())
    if prior is not None:
        if prior.reference.startswith(f"migration:{run}:"):  # from an earlier row of this file
            line = prior.reference.rsplit(":", 1)[-1]
            raise RowProblem("opening_balance", "duplicate_balance", {"line": line})
        return 0  # credited by an earlier import: once, ever
    validity = current_programme().points_validity_days
    ledger.apply_credit(
        locked, kind=PointsEntry.Kind.MIGRATION, points=row.opening_balance,
        details={"event": history.IMPORT, "line": row.line},
        reference=f"migration:{run}:{row.line}", now=now, available_at=now,
        expires_at=now + timedelta(days=validity), qualifying=False, earned=False,
        store=store)
    return row.opening_balance
