"""Domain errors. Each carries the contract's stable code and an HTTP status.

Services raise them; the API, pages, admin and commands translate them to
their own medium. Nobody re-implements the rule that raised them.
"""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    code = "invalid"
    status = 400
    default_message = _("The request is not valid.")

    def __init__(self, message=None, *, fields: dict | None = None):
        self.message = str(message or self.default_message)
        self.fields = fields or {}
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "fields": self.fields}


class Invalid(DomainError):
    pass


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Conflict(DomainError):
    status = 409


class InsufficientPoints(Conflict):
    code = "insufficient_points"
    default_message = _("Not enough points.")


class OrderConflict(Conflict):
    code = "order_conflict"
    default_message = _("This order id was already recorded with other content.")


class RefundConflict(Conflict):
    code = "refund_conflict"
    default_message = _("This refund id was already recorded with other content.")


class EventConflict(Conflict):
    code = "event_conflict"
    default_message = _("This event id was already recorded with other content.")


class RefundExceedsPurchase(Conflict):
    code = "refund_exceeds_purchase"
    default_message = _("The refund is larger than what remains of the purchase.")


class MemberExists(Conflict):
    code = "member_exists"
    default_message = _("A member already holds this email, phone or external id.")


class MemberClosed(Conflict):
    code = "member_closed"
    default_message = _("This member was merged or deleted.")


class MergeNotAllowed(Conflict):
    code = "merge_not_allowed"
    default_message = _("These members cannot be merged.")


class ReviewExists(Conflict):
    code = "review_exists"
    default_message = _("This purchase was already reviewed.")


class PurchaseRefunded(Invalid):
    code = "purchase_refunded"
    default_message = _("This purchase was refunded in full.")


class UnknownEventType(DomainError):
    code = "unknown_event_type"
    default_message = _("Unknown event type.")


class TokenInvalid(DomainError):
    code = "token_invalid"
    default_message = _("This card code is not valid.")


class TokenExpired(Conflict):
    code = "token_expired"
    default_message = _("This card code has expired: ask the customer to show the card again.")


class CardBlocked(Conflict):
    code = "card_blocked"
    default_message = _("This card is blocked.")


# --- rewards and vouchers ----------------------------------------------------------------


class RewardUnavailable(Conflict):
    code = "reward_unavailable"
    default_message = _("This reward is not available.")


class TierRequired(Conflict):
    code = "tier_required"
    default_message = _("This reward is for members of a higher tier.")


class MemberLimitReached(Conflict):
    code = "member_limit_reached"
    default_message = _("You have already had this reward as often as it can be had.")


class OutOfStock(Conflict):
    code = "out_of_stock"
    default_message = _("This reward is out of stock.")


class RedemptionConflict(Conflict):
    code = "redemption_conflict"
    default_message = _("This redemption id was already used for another request.")


class VoucherCodeInvalid(DomainError):
    code = "voucher_code_invalid"
    default_message = _("This voucher code is mistyped: please check it.")


class VoucherUsed(Conflict):
    code = "voucher_used"
    default_message = _("This voucher has already been used.")


class VoucherExpired(Conflict):
    code = "voucher_expired"
    default_message = _("This voucher has expired.")


class VoucherCancelled(Conflict):
    code = "voucher_cancelled"
    default_message = _("This voucher was cancelled.")


class VoucherNotValidHere(Conflict):
    code = "voucher_not_valid_here"
    default_message = _("This voucher cannot be used in this store.")


class VoucherNotUsed(Conflict):
    code = "voucher_not_used"
    default_message = _("This voucher was not used: there is nothing to undo.")


class UndoWindowPassed(Conflict):
    code = "undo_window_passed"
    default_message = _("Too late to undo: ask the programme's admin.")


# --- receipt claims ------------------------------------------------------------------------


class ClaimInvalid(DomainError):
    code = "claim_invalid"
    default_message = _("This receipt code is not valid: please check it.")


class ClaimExpired(Conflict):
    code = "claim_expired"
    default_message = _("This receipt can no longer be claimed: the time to claim it is over.")


class ClaimUsed(Conflict):
    code = "claim_used"
    default_message = _("This receipt has already been claimed.")


class PurchaseHasMember(Conflict):
    code = "purchase_has_member"
    default_message = _("This purchase already belongs to a member.")


class ClaimRefunded(Conflict):
    code = "purchase_refunded"
    default_message = _("This purchase was refunded: it cannot be claimed.")
