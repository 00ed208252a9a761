"""Input serializers check the shape of a request; output serializers describe the
response (and the schema). Business rules live in the services."""

import functools

from rest_framework import serializers

from loyalty.models import PointsEntry, Stage

TRANSACTION_KINDS = PointsEntry.Kind.values
STAGES = Stage.values

# --- shared ---------------------------------------------------------------------------


@functools.cache
def _bound(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    serializer = serializer_class()
    serializer.fields  # noqa: B018 - built and bound once; afterwards only read
    return serializer


def represent(serializer_class: type[serializers.Serializer], value, *, many: bool = False):
    """What `serializer_class(value, many=many).data` gives, for a JSON response.

    DRF deep-copies a serializer's declared fields, nested ones included, for each
    instance: about half a millisecond per response here. An output serializer
    only reads its fields in to_representation, so one bound instance per class
    serves every response (and every thread).

    Not for input: a field's validators keep their error messages as DRF's
    lazy_format, which caches its first rendering, so a shared field would answer
    every later request in the language of the first one that failed.
    """
    serializer = _bound(serializer_class)
    if many:
        return [serializer.to_representation(item) for item in value]
    return serializer.to_representation(value)


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable machine code, e.g. insufficient_points.")
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.JSONField(),
                                   help_text="Which fields are wrong, and details.")


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


class TierRefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


# --- members --------------------------------------------------------------------------


class MemberCreateSerializer(serializers.Serializer):
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    birth_date = serializers.DateField(required=False, allow_null=True)
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ExpiringSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class PointsSerializer(serializers.Serializer):
    balance = serializers.IntegerField(help_text="Spendable now (below zero only after "
                                                 "a refund of points already spent).")
    pending = serializers.IntegerField(help_text="Earned, not yet spendable (return window).")
    lifetime_earned = serializers.IntegerField()
    expiring = ExpiringSerializer(many=True)


class SegmentSerializer(serializers.Serializer):
    rfm = serializers.CharField(help_text=(
        "The member's RFM code (R, F and M scores 1-5, e.g. \"545\"). A member without a "
        "score has `segment: null` here (their segment, if any, is in `insight`)."))
    name = serializers.CharField(help_text="The segment's code, e.g. champions, at_risk.")


# --- insight (the insight:read scope) -----------------------------------------------------


class InsightRfmSerializer(serializers.Serializer):
    r = serializers.IntegerField(min_value=1, max_value=5, help_text="Recency score.")
    f = serializers.IntegerField(min_value=1, max_value=5, help_text="Frequency score.")
    m = serializers.IntegerField(min_value=1, max_value=5, help_text="Monetary score.")
    code = serializers.CharField(help_text="R, F and M together, e.g. \"545\".")
    recency_days = serializers.IntegerField(help_text="Days since the last purchase.")
    frequency = serializers.IntegerField(help_text="Purchases within the RFM window.")
    monetary = serializers.DecimalField(max_digits=14, decimal_places=2, help_text=(
        "Net spend (after refunds) within the RFM window."))
    computed_at = serializers.DateTimeField()


class InsightSegmentSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField(help_text="In the request's language.")
    since = serializers.DateTimeField(allow_null=True)


class InsightStageSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=STAGES, help_text=(
        "prospect (no purchase yet), new, active, loyal, at_risk or lapsed."))
    since = serializers.DateTimeField(allow_null=True, help_text=(
        "Null when the member joined after the last insight run."))


class InsightClvSerializer(serializers.Serializer):
    historic = serializers.DecimalField(max_digits=14, decimal_places=2,
                                        help_text="Net spend to date.")
    predicted = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True,
                                         help_text=("Predicted spend over the horizon, "
                                                    "discounted; null when the model could not "
                                                    "be fitted on the programme's history."))
    horizon_months = serializers.IntegerField(allow_null=True)
    p_alive = serializers.FloatField(allow_null=True, help_text=(
        "Probability that the customer is still active (BG/NBD)."))
    expected_purchases = serializers.FloatField(allow_null=True, help_text=(
        "Purchases expected over the horizon (BG/NBD)."))
    computed_at = serializers.DateTimeField()


class InsightSerializer(serializers.Serializer):
    rfm = InsightRfmSerializer(allow_null=True)
    segment = InsightSegmentSerializer(allow_null=True)
    stage = InsightStageSerializer()
    clv = InsightClvSerializer(allow_null=True)


class MemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    card_number = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    tier = TierRefSerializer(allow_null=True)
    points = PointsSerializer()
    segment = SegmentSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    insight = InsightSerializer(required=False, help_text=(
        "Only for callers with the insight:read scope: scores, segment, lifecycle stage and "
        "lifetime value, as of the last insight run."))


class MergeSerializer(serializers.Serializer):
    duplicate_id = serializers.IntegerField(min_value=1)


class TransactionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=TRANSACTION_KINDS)
    points = serializers.IntegerField()
    balance_after = serializers.IntegerField(
        help_text="The member's running ledger total after this entry (spendable + pending).")
    reason = serializers.CharField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)


# --- purchases ------------------------------------------------------------------------


class ItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=100)
    category = serializers.CharField(required=False, allow_blank=True, max_length=100)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)


class MemberRefMixin(serializers.Serializer):
    member_id = serializers.IntegerField(required=False, min_value=1)
    card_number = serializers.CharField(required=False, max_length=30)
    card_token = serializers.CharField(required=False, max_length=200)

    def validate(self, attrs):
        given = [name for name in ("member_id", "card_number", "card_token") if name in attrs]
        if len(given) != 1:
            raise serializers.ValidationError(
                {"member_id": "give exactly one of member_id, card_number, card_token"})
        return attrs


class PurchaseCreateSerializer(MemberRefMixin):
    member_id = serializers.IntegerField(
        required=False, min_value=1, allow_null=True,
        help_text="The member's id; `null` (given explicitly, with no card_number nor "
                  "card_token) records a sale without a member, whose answer carries the "
                  "receipt's `claim`.")
    order_id = serializers.CharField(max_length=100)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0,
                                      help_text="What the customer paid, after discounts.")
    occurred_at = serializers.DateTimeField(required=False)
    items = ItemSerializer(many=True, required=False, max_length=500)

    def validate(self, attrs):
        named = [name for name in ("member_id", "card_number", "card_token") if name in attrs]
        if named == ["member_id"] and attrs["member_id"] is None:
            return attrs  # member_id: null, a sale without a member
        if len(named) != 1 or attrs.get("member_id", 0) is None:
            raise serializers.ValidationError(
                {"member_id": "give exactly one of member_id, card_number, card_token "
                              "(or member_id: null for a sale without a member)"})
        return attrs


class ClaimSerializer(serializers.Serializer):
    code = serializers.CharField(help_text=(
        "The short code to print and type, 12 characters in groups of four "
        "(`K7QM-3XTR-9BWD`); no 0, O, 1, I, L or U."))
    token = serializers.CharField(help_text="The signed token the QR carries (`RC1.…`).")
    url = serializers.URLField(help_text="The address to print as a QR: the portal's "
                                         "claim page for this receipt.")
    expires_at = serializers.DateTimeField(help_text=(
        "Until when the purchase can be claimed: the purchase's time plus the claim "
        "period (LOYALTY_RECEIPT_CLAIM_DAYS)."))

    def get_attribute(self, instance):
        # Nested in a purchase: absent for a member's purchase (its answer is unchanged),
        # null for a sale too old to claim.
        if isinstance(instance, dict) and self.field_name not in instance:
            raise serializers.SkipField()
        return super().get_attribute(instance)


class PurchaseClaimSerializer(ClaimSerializer):
    purchase_id = serializers.IntegerField()
    order_id = serializers.CharField()


class BreakdownSerializer(serializers.Serializer):
    rule = serializers.CharField()
    points = serializers.IntegerField()


class PurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.CharField()
    member_id = serializers.IntegerField(allow_null=True,
                                         help_text="null for a sale without a member.")
    store = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_earned = serializers.IntegerField()
    points_breakdown = BreakdownSerializer(many=True)
    points_status = serializers.ChoiceField(choices=["pending", "available"])
    balance = serializers.IntegerField(allow_null=True, help_text=(
        "Spendable balance after this purchase; null for a sale without a member."))
    claim = ClaimSerializer(required=False, allow_null=True, help_text=(
        "Only for a sale without a member: the receipt's claim code, or null when the "
        "sale is already too old to be claimed."))


class RefundCreateSerializer(serializers.Serializer):
    refund_id = serializers.CharField(max_length=100)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    items = ItemSerializer(many=True, required=False, max_length=500)


class RefundSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    refund_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_reversed = serializers.IntegerField()
    balance = serializers.IntegerField()


# --- actions, cards, programme ---------------------------------------------------------


class EventCreateSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(min_value=1)
    type = serializers.CharField(max_length=50)
    event_id = serializers.CharField(max_length=100)
    occurred_at = serializers.DateTimeField(required=False)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.CharField()
    type = serializers.CharField()
    points_earned = serializers.IntegerField()
    balance = serializers.IntegerField()
    limited = serializers.BooleanField()


class CardResolveSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200, help_text="A scanned QR token or a card number.")


class CardMemberSerializer(serializers.Serializer):
    member_id = serializers.IntegerField()
    card_number = serializers.CharField()
    first_name = serializers.CharField()
    tier = TierRefSerializer(allow_null=True)
    balance = serializers.IntegerField()


class ProgrammeTierSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    threshold = serializers.DecimalField(max_digits=12, decimal_places=2)
    benefits = serializers.ListField(child=serializers.CharField())
    earn_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2)


class ProgrammeSerializer(serializers.Serializer):
    name = serializers.CharField()
    currency = serializers.CharField()
    earning = serializers.ListField(child=serializers.CharField())
    tiers = ProgrammeTierSerializer(many=True)
    tier_basis = serializers.ChoiceField(choices=["points", "spend"])
    tier_window_days = serializers.IntegerField()
    return_window_days = serializers.IntegerField()
    points_validity_days = serializers.IntegerField()


class SegmentListItemSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField(help_text="In the request's language.")
    description = serializers.CharField()
    active = serializers.BooleanField(help_text="False: switched off in the admin.")
    members = serializers.IntegerField(help_text="Active members in it, as of the last "
                                                 "insight run.")


# --- pages ------------------------------------------------------------------------------


def page_of(serializer_class, name: str):
    """The paginated list the contract describes: {count, next, previous, results}."""
    return type(name, (serializers.Serializer,), {
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": serializer_class(many=True),
    })


MemberPageSerializer = page_of(MemberSerializer, "MemberPageSerializer")
TransactionPageSerializer = page_of(TransactionSerializer, "TransactionPageSerializer")
SegmentPageSerializer = page_of(SegmentListItemSerializer, "SegmentPageSerializer")
