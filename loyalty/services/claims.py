"""Receipts customers can claim: a sale recorded without a member, made theirs later.

The receipt of a sale recorded without a member carries a claim code in two forms,
both signed with the store's own claim secret (`Store.claim_secret`, HMAC-SHA256),
neither carrying anything about the customer:

- the QR's token, `RC1.<purchase id>.<expiry>.<signature>` (ids and times in base 36):
  checked offline by its signature, then against the claim's row;
- the short code to type, 12 characters from an alphabet without look-alikes (no 0/O,
  1/I/L, U), shown in groups of four: `K7QM-3XTR-9BWD`. It is the start of an HMAC
  of the purchase, found by its row and checked again against the store's secret.

A code can be claimed once, by one member, until `LOYALTY_RECEIPT_CLAIM_DAYS` after the
purchase. Claiming gives the purchase to the member and credits it through the same
path as a purchase recorded with its member (`purchases.credit_purchase`): the active
rules whose dates cover the purchase's time, pending until the return window, counted from
the purchase, ends. Claiming again is harmless for the same member; a refunded purchase or
one that already has a member cannot be claimed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from loyalty.models import Member, Purchase, ReceiptClaim
from loyalty.services import ledger, purchases
from loyalty.services.cards import base36
from loyalty.services.errors import (
    ClaimExpired,
    ClaimInvalid,
    ClaimRefunded,
    ClaimUsed,
    PurchaseHasMember,
)
from loyalty.services.members import follow_merges
from loyalty.services.recorded import Recorded

TOKEN_PREFIX = "RC1"  # noqa: S105 - a format version, not a secret
SHORT_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0 O 1 I L U
SHORT_CODE_LENGTH = 12
SHORT_CODE_GROUP = 4
MAX_INPUT = 200  # longer than any code: refused before any work


def claim_days() -> int:
    return settings.LOYALTY_RECEIPT_CLAIM_DAYS


def _mac(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


def _signature(secret: str, purchase_id: int, expires: int) -> str:
    digest = _mac(secret, f"{TOKEN_PREFIX}.{purchase_id}.{expires}")[:16]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _short_code(secret: str, purchase_id: int) -> str:
    number = int.from_bytes(_mac(secret, f"receipt-claim-code.{purchase_id}"), "big")
    out = []
    for _position in range(SHORT_CODE_LENGTH):
        number, rem = divmod(number, len(SHORT_CODE_ALPHABET))
        out.append(SHORT_CODE_ALPHABET[rem])
    return "".join(out)


def token_for(claim: ReceiptClaim) -> str:
    """The QR's signed token for a claim."""
    purchase = claim.purchase
    expires = int(claim.expires_at.timestamp())
    signature = _signature(purchase.store.claim_secret, purchase.pk, expires)
    return f"{TOKEN_PREFIX}.{base36(purchase.pk)}.{base36(expires)}.{signature}"


def grouped(code: str) -> str:
    """`K7QM3XTR9BWD` → `K7QM-3XTR-9BWD`, as printed."""
    return "-".join(code[i:i + SHORT_CODE_GROUP] for i in range(0, len(code), SHORT_CODE_GROUP))


def claim_url(claim: ReceiptClaim) -> str:
    """The absolute address the receipt's QR opens."""
    return (settings.LOYALTY_SITE_URL.rstrip("/")
            + reverse("claim", kwargs={"code": token_for(claim)}))


def normalise_short_code(value: str) -> str | None:
    """A typed short code without its spaces and dashes, upper case; None when it cannot be
    one (a wrong length, a letter the alphabet does not use)."""
    code = "".join(ch for ch in value.upper() if ch not in " -.\t")
    if len(code) != SHORT_CODE_LENGTH or any(ch not in SHORT_CODE_ALPHABET for ch in code):
        return None
    return code


def issue_claim(*, purchase: Purchase, now: datetime | None = None) -> Recorded:
    """The claim code of a sale recorded without a member, created once: asking again
    returns the same claim (`created=False`).

    Raises PurchaseHasMember (a member's purchase, or one claimed already, needs no
    code), ClaimRefunded (a refunded sale) or ClaimExpired (the sale is older than the
    claim period).
    """
    now = now or timezone.now()
    existing = ReceiptClaim.objects.filter(purchase_id=purchase.pk).select_related(
        "purchase__store").first()
    if existing is not None:
        return Recorded(existing, False)
    try:
        with transaction.atomic():
            purchase = (Purchase.objects.select_for_update(of=("self",))
                        .select_related("store").get(pk=purchase.pk))
            if purchase.member_id is not None:
                raise PurchaseHasMember(fields={"purchase_id": purchase.pk})
            if purchase.refunded_amount > 0:
                raise ClaimRefunded(fields={"purchase_id": purchase.pk})
            expires_at = purchase.occurred_at + timedelta(days=claim_days())
            if expires_at <= now:
                raise ClaimExpired(fields={"purchase_id": purchase.pk})
            claim = ReceiptClaim.objects.create(
                purchase=purchase, code=_short_code(purchase.store.claim_secret, purchase.pk),
                expires_at=expires_at, created_at=now)
            return Recorded(claim, True)
    except IntegrityError:
        # Asked twice at once: the other request created it.
        existing = ReceiptClaim.objects.filter(purchase_id=purchase.pk).select_related(
            "purchase__store").first()
        if existing is None:  # pragma: no cover - a short code shared by two purchases
            raise
        return Recorded(existing, False)


def receipt_claim(*, purchase: Purchase, now: datetime | None = None) -> ReceiptClaim | None:
    """The claim to print on the receipt of a sale just recorded without a member: issued
    once (the same one on a retry), None when the sale can no longer be claimed (older
    than the claim period, refunded, claimed or given a member by other means)."""
    try:
        return issue_claim(purchase=purchase, now=now).obj
    except (ClaimExpired, ClaimRefunded, PurchaseHasMember):
        return None


def find_claim(code: str) -> ReceiptClaim:
    """The claim a scanned token or a typed short code names, its signature checked.

    Raises ClaimInvalid for anything else (garbled, forged, unknown), never another
    error. Whether it expired or was used is the claim's business, not the finder's.
    """
    if not isinstance(code, str) or not code.strip() or len(code) > MAX_INPUT:
        raise ClaimInvalid()
    code = code.strip()
    if code.startswith(f"{TOKEN_PREFIX}."):
        return _claim_from_token(code)
    short = normalise_short_code(code)
    if short is None:
        raise ClaimInvalid()
    claim = (ReceiptClaim.objects.select_related("purchase__store")
             .filter(code=short).first())
    if claim is None or not hmac.compare_digest(
            _short_code(claim.purchase.store.claim_secret, claim.purchase_id), short):
        raise ClaimInvalid()
    return claim


def _claim_from_token(token: str) -> ReceiptClaim:
    parts = token.split(".")
    if len(parts) != 4 or not all(part.isascii() and part for part in parts):
        raise ClaimInvalid()
    _prefix, purchase_b36, expires_b36, signature = parts
    try:
        purchase_id, expires = int(purchase_b36, 36), int(expires_b36, 36)
    except ValueError:
        raise ClaimInvalid() from None
    if purchase_id > 2**63 - 1 or expires > 2**40:
        raise ClaimInvalid()
    claim = (ReceiptClaim.objects.select_related("purchase__store")
             .filter(purchase_id=purchase_id).first())
    if claim is None:
        raise ClaimInvalid()
    expected = _signature(claim.purchase.store.claim_secret, purchase_id, expires)
    if not hmac.compare_digest(expected, signature) or expires != int(
            claim.expires_at.timestamp()):
        raise ClaimInvalid()
    return claim


def claim_purchase(*, code: str, member: Member, now: datetime | None = None) -> Recorded:
    """Give the purchase a receipt's code names to `member` and credit its points, once.

    The same member claiming again gets the purchase back (`created=False`). Raises
    ClaimInvalid (garbled, forged, unknown code), ClaimUsed (claimed by another member),
    PurchaseHasMember (the purchase has a member already), ClaimRefunded, ClaimExpired,
    or NotFound / MemberClosed for the member.
    """
    now = now or timezone.now()
    claim = find_claim(code)
    with transaction.atomic():
        # The house's order: the member, then the purchase (and its claim).
        locked = ledger.lock_member(member.pk)
        purchase = (Purchase.objects.select_for_update(of=("self",)).select_related("store")
                    .get(pk=claim.purchase_id))
        claim = ReceiptClaim.objects.get(pk=claim.pk)
        if claim.claimed_by_id is not None:
            if claim.claimed_by_id == locked.pk or _merged_into(claim.claimed_by_id, locked):
                return Recorded(purchase, False)
            raise ClaimUsed()
        if purchase.member_id is not None:
            raise PurchaseHasMember()
        if purchase.refunded_amount > 0:
            raise ClaimRefunded()
        if claim.expires_at <= now:
            raise ClaimExpired()
        items = list(purchase.items.values("sku", "category", "quantity", "unit_price"))
        purchases.credit_purchase(purchase, member=locked, items=items, now=now)
        claim.claimed_by = locked
        claim.claimed_at = now
        claim.save(update_fields=["claimed_by", "claimed_at"])
        return Recorded(purchase, True)


def _merged_into(member_id: int, survivor: Member) -> bool:
    """Whether the member who claimed was since merged into `survivor`."""
    return follow_merges(Member.objects.get(pk=member_id)).pk == survivor.pk
