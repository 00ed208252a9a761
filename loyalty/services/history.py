"""A member's history in words: each ledger line rendered when it is shown, in the
reader's language, from what the entry records.

The services write `PointsEntry.details` (what happened: the purchase, its store and
bonuses, the action rule, the reward, the lot that expired...) and never a sentence;
staff-typed notes (a manual adjustment) stay in `reason` and are shown as typed. Names
come from the models at read time (translated, loyalty/translation.py), so a French
reader sees the French tier name and an English one the English.

Entries written before `details` existed render from their purchase, action or
redemption when they have one, else from their reason as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils import formats, timezone
from django.utils.translation import gettext as _

# Events the services record in `details["event"]`.
PURCHASE = "purchase"
REFUND = "refund"
ACTION = "action"
REDEMPTION = "redemption"
VOUCHER_CANCELLED = "voucher_cancelled"
EXPIRY = "expiry"
MERGE = "merge"
IMPORT = "import"
ERASURE = "erasure"
ADJUSTMENT = "adjustment"

# The reference a till draws when no receipt number is typed (loyalty/staff/forms.py
# new_reference): an internal id a customer must never read.
_DRAWN_REFERENCE = re.compile(r"^[a-z]+-[0-9a-f]{32}$")
_FACTOR = re.compile(r"×\s*([0-9]+(?:[.,][0-9]+)?)\s*$")


def is_drawn_reference(order_id: str) -> bool:
    return bool(_DRAWN_REFERENCE.match(order_id or ""))


def receipt_of(order_id: str) -> str:
    """The receipt or order number a customer can read, or "" for a drawn id."""
    return "" if is_drawn_reference(order_id) else order_id


def breakdown_details(breakdown: Sequence[dict]) -> list[dict]:
    """A purchase's breakdown as an entry records it: what applied, never its words."""
    keys = ("source", "rule_id", "factor", "extra", "cap", "points")
    return [{key: line[key] for key in keys if key in line} for line in breakdown]


def purchase_details(*, store, order_id: str, occurred_at: datetime,
                     breakdown: Sequence[dict]) -> dict:
    return {"event": PURCHASE, "store_id": store.pk, "channel": store.kind,
            "order_id": order_id, "receipt": receipt_of(order_id),
            "occurred_at": occurred_at.isoformat(), "lines": breakdown_details(breakdown)}


# --- Rendering ---------------------------------------------------------------------------


class _Names:
    """The models an entry names, loaded once for a page of entries (a query per kind)."""

    def __init__(self):
        self._wanted: dict[str, set] = {}
        self._found: dict[str, dict] = {}

    def want(self, kind: str, pk) -> None:
        if pk is not None:
            self._wanted.setdefault(kind, set()).add(pk)

    def get(self, kind: str, pk):
        if kind not in self._found:
            self._found[kind] = self._load(kind, self._wanted.get(kind, set()))
        found = self._found[kind].get(pk)
        if found is None and pk is not None and pk not in self._wanted.get(kind, set()):
            found = self._load(kind, {pk}).get(pk)
            self._found[kind][pk] = found
        return found

    @staticmethod
    def _load(kind: str, ids: set) -> dict:
        if not ids:
            return {}
        from loyalty.models import ActionRule, EarningRule, Multiplier, Store
        from loyalty.services.earning import all_tiers
        from rewards.models import Reward

        if kind == "tier":
            return {tier.pk: tier for tier in all_tiers() if tier.pk in ids}
        found = {}
        if kind in ("rule", "multiplier"):  # the active ones are in the configuration cache
            from loyalty.services.earning import load_scale

            scale = load_scale()
            cached = scale.rules if kind == "rule" else scale.multipliers
            found = {rule.pk: rule for rule in cached if rule.pk in ids}
        model = {"store": Store, "rule": EarningRule, "multiplier": Multiplier,
                 "action": ActionRule, "reward": Reward}[kind]
        missing = ids - set(found)
        if missing:
            found.update(model.objects.in_bulk(missing))
        return found


def _factor(line: dict) -> str:
    """The bonus factor, localised ("1.5", "1,5"); old lines only kept it in their text."""
    raw = line.get("factor")
    if raw is None:
        found = _FACTOR.search(str(line.get("rule", "")))
        raw = found.group(1).replace(",", ".") if found else None
    try:
        return formats.localize(Decimal(str(raw)).normalize()) if raw is not None else ""
    except InvalidOperation:
        return str(raw)


def _want_line(names: _Names, line: dict) -> None:
    source = line.get("source")
    if source in ("rule", "multiplier", "tier"):
        names.want(source, line.get("rule_id"))


def _line_label(names: _Names, line: dict) -> str:
    source, stored = line.get("source"), str(line.get("rule", ""))
    if source == "cap":
        cap = line.get("cap")
        if cap == "purchase":
            return _("Cap per purchase")
        if cap == "day":
            return _("Cap per day")
        return stored
    if source == "bonus":
        parts = []
        if line.get("factor"):
            parts.append(f"×{_factor(line)}")
        if line.get("extra"):
            parts.append(f"+{line['extra']}")
        return _("Next-purchase bonus %(bonus)s") % {"bonus": " ".join(parts)}
    found = names.get(source, line.get("rule_id")) if source in (
        "rule", "multiplier", "tier") else None
    if found is None:
        return stored
    factor = _factor(line)
    if source == "rule":
        return found.name
    if not factor:
        return stored or found.name
    if source == "tier":
        return _("%(tier)s tier ×%(factor)s") % {"tier": found.name, "factor": factor}
    return f"{found.name} ×{factor}"


def breakdown_lines(breakdown: Iterable[dict]) -> list[dict]:
    """A purchase's breakdown with each line's label in the reader's language:
    [{"rule": label, "points": points, "source": ...}]."""
    return many_breakdown_lines([breakdown])[0]


def many_breakdown_lines(breakdowns: Iterable[Iterable[dict]]) -> list[list[dict]]:
    """breakdown_lines for several purchases, the names they share loaded once."""
    all_lines = [[line for line in breakdown if isinstance(line, dict)]
                 for breakdown in breakdowns]
    names = _Names()
    for lines in all_lines:
        for line in lines:
            _want_line(names, line)
    return [[{**line, "rule": _line_label(names, line)} for line in lines]
            for lines in all_lines]


def _local_day(value) -> str:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return formats.date_format(value, "MONTH_DAY_FORMAT")


def _purchase_text(*, channel: str, store: str, order_id: str, receipt: str | None,
                   occurred_at) -> str:
    if receipt is None:
        receipt = receipt_of(order_id)
    if channel == "online" or receipt:
        # An online order reads its order number, a till purchase its receipt number.
        return _("purchase #%(order)s at %(store)s") % {"order": receipt or order_id,
                                                        "store": store}
    return _("purchase in store at %(store)s, %(date)s") % {
        "store": store, "date": _local_day(occurred_at)}


def purchase_line(purchase) -> str:
    """A purchase as its customer knows it: its order or receipt number, or the store
    and the day for a till purchase without one."""
    return _purchase_text(channel=purchase.store.kind, store=purchase.store.name,
                          order_id=purchase.order_id, receipt=None,
                          occurred_at=purchase.occurred_at)


def _with_bonuses(text: str, names: _Names, lines: Sequence[dict]) -> str:
    """The purchase's words, then what added to its base points (as the page always did)."""
    extras = [_line_label(names, line) for line in list(lines)[1:]
              if isinstance(line, dict) and line.get("source") != "cap" and line.get("points")]
    return ", ".join([text, *[extra for extra in extras if extra]])


def _want(names: _Names, entry) -> None:
    details = entry.details or {}
    event = details.get("event")
    if event in (PURCHASE, REFUND):
        names.want("store", details.get("store_id"))
        for line in details.get("lines", ()):
            _want_line(names, line)
    elif event == ACTION:
        names.want("action", details.get("rule_id"))
    elif event in (REDEMPTION, VOUCHER_CANCELLED):
        names.want("reward", details.get("reward_id"))
    elif not details:
        purchase = _related(entry, "purchase")
        if purchase is not None:
            for line in purchase.points_breakdown or ():
                if isinstance(line, dict):
                    _want_line(names, line)


def _related(entry, name: str):
    """A reverse one-to-one the caller selected (or None); queried only when not."""
    try:
        return getattr(entry, name)
    except Exception:  # noqa: BLE001 - RelatedObjectDoesNotExist of any model
        return None


def _describe(entry, names: _Names) -> str:
    details = entry.details or {}
    event = details.get("event")
    if event == PURCHASE:
        store = names.get("store", details.get("store_id"))
        text = _purchase_text(channel=details.get("channel", ""),
                              store=store.name if store else "",
                              order_id=details.get("order_id", ""),
                              receipt=details.get("receipt"),
                              occurred_at=details.get("occurred_at"))
        return _with_bonuses(text, names, details.get("lines", ()))
    if event == REFUND:
        store = names.get("store", details.get("store_id"))
        return _("refund of %(purchase)s") % {"purchase": _purchase_text(
            channel=details.get("channel", ""), store=store.name if store else "",
            order_id=details.get("order_id", ""), receipt=details.get("receipt"),
            occurred_at=details.get("occurred_at"))}
    if event == ACTION:
        rule = names.get("action", details.get("rule_id"))
        return rule.name if rule else details.get("event_type", "")
    if event == REDEMPTION:
        reward = names.get("reward", details.get("reward_id"))
        return _("Reward: %(reward)s") % {"reward": reward.name if reward else ""}
    if event == VOUCHER_CANCELLED:
        reward = names.get("reward", details.get("reward_id"))
        return _("Voucher %(code)s cancelled (%(reward)s)") % {
            "code": details.get("code", ""), "reward": reward.name if reward else ""}
    if event == EXPIRY:
        earned = details.get("earned_on")
        try:
            shown = formats.date_format(date.fromisoformat(earned), "DATE_FORMAT")
        except (TypeError, ValueError):
            shown = str(earned or "")
        return _("Points earned on %(date)s expired") % {"date": shown}
    if event == MERGE:
        return _("Card %(duplicate)s merged into card %(survivor)s") % {
            "duplicate": details.get("duplicate_card", ""),
            "survivor": details.get("survivor_card", "")}
    if event == IMPORT:
        return _("Opening balance from the previous programme (import, line %(line)s)") % {
            "line": details.get("line", "")}
    if event == ERASURE:
        if details.get("outcome") == "written_off":
            return _("Account deleted: debt written off")
        return _("Account deleted: points forfeited")
    if event == ADJUSTMENT or details:
        return entry.reason or entry.get_kind_display()
    return _describe_old(entry, names)


def _describe_old(entry, names: _Names) -> str:
    """An entry from before `details`: from its purchase, action or reward when it has
    one (the names in the reader's language), else its reason as it was written."""
    purchase = _related(entry, "purchase") if entry.kind == "earn" else None
    if purchase is not None:
        text = _purchase_text(channel=purchase.store.kind, store=purchase.store.name,
                              order_id=purchase.order_id, receipt=None,
                              occurred_at=purchase.occurred_at)
        return _with_bonuses(text, names, purchase.points_breakdown or ())
    event = _related(entry, "action_event") if entry.kind == "earn" else None
    if event is not None:
        return event.rule.name
    redemption = _related(entry, "redemption") if entry.kind == "redeem" else None
    if redemption is not None:
        return _("Reward: %(reward)s") % {"reward": redemption.reward.name}
    return entry.reason or entry.get_kind_display()


def describe_entries(entries: Sequence) -> list[str]:
    """Each entry's line, in the active language, with one query per kind of thing named."""
    names = _Names()
    for entry in entries:
        _want(names, entry)
    return [_describe(entry, names) for entry in entries]


def describe_entry(entry) -> str:
    return describe_entries([entry])[0]


def history_queryset(queryset):
    """What describe_entries reads of old entries, fetched with them."""
    return queryset.select_related("purchase__store", "action_event__rule",
                                   "redemption__reward")
