"""The e-shop's front door: thin views that check shape and scope, then call services."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from loyalty import selectors
from loyalty.api import serializers as s
from loyalty.api.idempotency import idempotent
from loyalty.brand import name_of
from loyalty.models import ApiKey, Card, Member, Programme, Purchase, Segment, Tier
from loyalty.services import actions, cards, claims, history, members, purchases
from loyalty.services.errors import NotFound
from loyalty.services.insight import figures

INSIGHT_READ = ApiKey.Scope.INSIGHT_READ.value

ERRORS = {code: s.ErrorSerializer for code in (400, 401, 403, 404, 409, 429)}
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="Replaying a request with the same key returns the first response.")


SERVICE_UNAVAILABLE = OpenApiResponse(
    response=s.ErrorSerializer,
    description="`service_unavailable`: the database is briefly out of reach (a restart, a "
                "failover). Nothing was done; retry after the `Retry-After` header's seconds, "
                "with the same Idempotency-Key.")


def errors(*codes):
    """The error responses of an operation: these `codes`, and those any call can meet."""
    return {**{code: s.ErrorSerializer for code in (401, 403, 429, *codes)},
            503: SERVICE_UNAVAILABLE}


class ApiView(APIView):
    required_scopes: dict[str, tuple[str, ...]] = {}

    @property
    def caller(self):
        return self.request.user

    def member_or_404(self, member_id) -> Member:
        member = selectors.active_member(member_id)
        if member is None:
            raise NotFound(fields={"member_id": member_id})
        return member

    @property
    def sees_insight(self) -> bool:
        """Members come with their `insight` for callers with the insight:read scope."""
        return self.caller.has_scope(INSIGHT_READ)

    def valid(self, serializer_class):
        serializer = serializer_class(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


# --- members --------------------------------------------------------------------------


class MemberListView(ApiView):
    required_scopes = {"GET": ("members:read",), "POST": ("members:write",)}
    filters = ("email", "phone", "card_number", "external_id")

    @extend_schema(
        operation_id="members_search",
        parameters=[OpenApiParameter(name, str, required=False) for name in filters],
        responses={200: s.MemberPageSerializer, **errors(400)},
        description="Find members by one identity. At least one filter is required: the "
                    "API does not list the whole programme.")
    def get(self, request):
        query = {name: request.query_params.get(name, "").strip() for name in self.filters}
        query = {name: value for name, value in query.items() if value}
        if not query:
            raise ValidationError({"email": "filter by email, phone, card_number or "
                                            "external_id"})
        for name, value in query.items():
            if len(value) > 254 or not value.isprintable():
                raise ValidationError({name: "at most 254 printable characters"})
        found = selectors.find_members(store=self.caller.store, **query)
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(found.order_by("pk").distinct(), request, view=self)
        return paginator.get_paginated_response(
            s.represent(s.MemberSerializer,
                        selectors.member_payloads(page, store=self.caller.store,
                                                 insight=self.sees_insight), many=True))

    @extend_schema(operation_id="members_create", request=s.MemberCreateSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: s.MemberSerializer, **errors(400, 409)})
    @idempotent
    def post(self, request):
        data = self.valid(s.MemberCreateSerializer)
        member = members.create_member(store=self.caller.store, **data)
        member = selectors.active_member(member.pk)
        payload = selectors.member_payloads([member], store=self.caller.store,
                                            insight=self.sees_insight)[0]
        return Response(s.represent(s.MemberSerializer, payload), status=status.HTTP_201_CREATED)


class MemberDetailView(ApiView):
    required_scopes = {"GET": ("members:read",)}

    @extend_schema(operation_id="members_retrieve",
                   responses={200: s.MemberSerializer, **errors(404)})
    def get(self, request, member_id: int):
        payload = selectors.member_payload(member_id, store=self.caller.store,
                                           insight=self.sees_insight)
        if payload is None:
            raise NotFound(fields={"member_id": member_id})
        return Response(s.represent(s.MemberSerializer, payload))


class MemberTransactionsView(generics.GenericAPIView, ApiView):
    required_scopes = {"GET": ("members:read",)}
    pagination_class = LimitOffsetPagination
    serializer_class = s.TransactionSerializer

    @extend_schema(operation_id="members_transactions",
                   responses={200: s.TransactionPageSerializer, **errors(404)})
    def get(self, request, member_id: int):
        member = self.member_or_404(member_id)
        page = self.paginate_queryset(history.history_queryset(
            selectors.transactions(member=member)))
        # `reason`: the line in the request's language (Accept-Language), as the pages show it.
        rows = [{"id": e.pk, "kind": e.kind, "points": e.points, "balance_after": e.balance_after,
                 "reason": text, "reference": e.reference, "created_at": e.created_at,
                 "expires_at": getattr(getattr(e, "lot", None), "expires_at", None)}
                for e, text in zip(page, history.describe_entries(page), strict=True)]
        return self.get_paginated_response(s.represent(s.TransactionSerializer, rows, many=True))


class MemberMergeView(ApiView):
    required_scopes = {"POST": ("members:merge",)}

    @extend_schema(operation_id="members_merge", request=s.MergeSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={200: s.MemberSerializer, **errors(400, 404, 409)})
    @idempotent
    def post(self, request, member_id: int):
        data = self.valid(s.MergeSerializer)
        survivor = members.merge_members(survivor_id=member_id,
                                         duplicate_id=data["duplicate_id"],
                                         reason=f"API ({self.caller.store.code})")
        survivor = selectors.active_member(survivor.pk)
        payload = selectors.member_payloads([survivor], store=self.caller.store,
                                            insight=self.sees_insight)[0]
        return Response(s.represent(s.MemberSerializer, payload))


# --- purchases --------------------------------------------------------------------------


def resolve_member(data) -> Member:
    """The member a purchase names, by id, card number or scanned card token."""
    if "member_id" in data:
        # No look-up here: the service locks the member by id, follows a merge to the
        # survivor, and answers not_found for an unknown id.
        return Member(pk=data["member_id"])
    card = cards.resolve_card(data.get("card_number") or data.get("card_token"))
    return card.member


def claim_payload(claim) -> dict:
    return {"code": claims.grouped(claim.code), "token": claims.token_for(claim),
            "url": claims.claim_url(claim), "expires_at": claim.expires_at}


def purchase_payload(purchase: Purchase, *, claim=None, memberless: bool = False) -> dict:
    """`memberless`: a sale recorded without a member, answered as it was recorded (even
    when its receipt was claimed since), with its receipt's claim."""
    if memberless:
        return {
            "id": purchase.pk, "order_id": purchase.order_id, "member_id": None,
            "store": purchase.store.code, "amount": purchase.amount, "points_earned": 0,
            "points_breakdown": [], "points_status": "available", "balance": None,
            "claim": claim_payload(claim) if claim is not None else None,
        }
    return {
        "id": purchase.pk, "order_id": purchase.order_id, "member_id": purchase.member_id,
        "store": purchase.store.code, "amount": purchase.amount,
        "points_earned": purchase.points_earned,
        # Each line named in the request's language (Accept-Language).
        "points_breakdown": [{"rule": line["rule"], "points": line["points"]}
                             for line in history.breakdown_lines(purchase.points_breakdown)],
        # As it was when recorded, so that a replay returns the first response.
        "points_status": purchases.points_status(purchase, now=purchase.created_at),
        "balance": purchase.balance_after,
    }


class PurchaseView(ApiView):
    required_scopes = {"POST": ("purchases:write",)}

    @extend_schema(operation_id="purchases_create", request=s.PurchaseCreateSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: s.PurchaseSerializer, **errors(400, 404, 409)},
                   description="Natural key: (the key's store, order_id). The same order "
                               "again returns the first response.")
    @idempotent
    def post(self, request):
        data = self.valid(s.PurchaseCreateSerializer)
        member = resolve_member(data) if data.get("member_id", 0) is not None else None
        recorded = purchases.record_purchase(
            store=self.caller.store, order_id=data["order_id"], amount=data["amount"],
            member=member, items=[dict(item) for item in data.get("items", [])],
            occurred_at=data.get("occurred_at"))
        purchase = recorded.obj
        purchase.store = self.caller.store
        if member is None:
            claim = claims.receipt_claim(purchase=purchase)
            payload = purchase_payload(purchase, claim=claim, memberless=True)
        else:
            payload = purchase_payload(purchase)
        return Response(s.represent(s.PurchaseSerializer, payload),
                        status=status.HTTP_201_CREATED)


class PurchaseClaimView(ApiView):
    required_scopes = {"POST": ("purchases:write",)}

    @extend_schema(
        operation_id="purchases_claim", request=None, parameters=[IDEMPOTENCY_HEADER],
        responses={200: s.PurchaseClaimSerializer, **errors(400, 404, 409)},
        description="The claim code of a sale recorded without a member, for its receipt: "
                    "created on the first request, the same one on every later request. "
                    "400 `invalid` (a malformed Idempotency-Key); 404 `not_found` (unknown, "
                    "or another store's); 409 `purchase_has_member`, `purchase_refunded` or "
                    "`claim_expired` (older than the claim period).")
    @idempotent
    def post(self, request, purchase_id: int):
        purchase = purchases.find_purchase(store=self.caller.store, purchase_id=purchase_id)
        claim = claims.issue_claim(purchase=purchase).obj
        return Response(s.represent(s.PurchaseClaimSerializer, {
            "purchase_id": purchase.pk, "order_id": purchase.order_id,
            **claim_payload(claim)}))


class RefundView(ApiView):
    required_scopes = {"POST": ("purchases:write",)}

    @extend_schema(operation_id="purchases_refund", request=s.RefundCreateSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: s.RefundSerializer, **errors(400, 404, 409)},
                   description="Natural key: refund_id. Points are reversed in proportion "
                               "to the amount refunded.")
    @idempotent
    def post(self, request, purchase_id: int):
        purchase = purchases.find_purchase(store=self.caller.store, purchase_id=purchase_id)
        data = self.valid(s.RefundCreateSerializer)
        refund = purchases.record_refund(
            purchase=purchase, refund_id=data["refund_id"], amount=data["amount"],
            items=[dict(item) for item in data.get("items", [])], by=self.caller.user).obj
        return Response(s.represent(s.RefundSerializer, {
            "id": refund.pk, "refund_id": refund.refund_id, "amount": refund.amount,
            "points_reversed": refund.points_reversed, "balance": refund.balance_after,
        }), status=status.HTTP_201_CREATED)


# --- actions, cards, programme ------------------------------------------------------------


class EventView(ApiView):
    required_scopes = {"POST": ("events:write",)}

    @extend_schema(operation_id="events_create", request=s.EventCreateSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: s.EventSerializer, **errors(400, 404, 409)},
                   description="Natural key: event_id. A per-member limit reached gives "
                               "201 with points_earned 0 and limited true.")
    @idempotent
    def post(self, request):
        data = self.valid(s.EventCreateSerializer)
        member = self.member_or_404(data["member_id"])
        event = actions.record_action(member=member, event_type=data["type"],
                                      event_id=data["event_id"], store=self.caller.store,
                                      occurred_at=data.get("occurred_at")).obj
        return Response(s.represent(s.EventSerializer, {
            "id": event.pk, "event_id": event.event_id, "type": event.rule.event_type,
            "points_earned": event.points_earned, "balance": event.balance_after,
            "limited": event.limited,
        }), status=status.HTTP_201_CREATED)


class CardResolveView(ApiView):
    required_scopes = {"POST": ("members:read",)}

    @extend_schema(operation_id="cards_resolve", request=s.CardResolveSerializer,
                   responses={200: s.CardMemberSerializer, **errors(400, 404, 409)},
                   description="400 token_invalid (forged or garbled), 409 token_expired, "
                               "409 card_blocked, 404 unknown card number.")
    def post(self, request):
        data = self.valid(s.CardResolveSerializer)
        card: Card = cards.resolve_card(data["token"])
        member = selectors.active_member(card.member_id)
        if member is None:
            raise NotFound(fields={"token": "no active member holds this card"})
        return Response(s.represent(s.CardMemberSerializer, {
            "member_id": member.pk, "card_number": card.number,
            "first_name": member.first_name,
            "tier": {"code": member.tier.code, "name": member.tier.name} if member.tier else None,
            "balance": member.balance,
        }))


class ProgrammeView(ApiView):
    required_scopes = {"GET": ()}

    @extend_schema(operation_id="programme_retrieve",
                   responses={200: s.ProgrammeSerializer, **errors()})
    def get(self, request):
        programme = Programme.load()
        return Response(s.represent(s.ProgrammeSerializer, {
            "name": name_of(programme), "currency": programme.currency,
            "earning": selectors.describe_scale(),
            "tiers": [{"code": t.code, "name": t.name, "threshold": t.threshold,
                       "benefits": t.benefit_list, "earn_multiplier": t.earn_multiplier}
                      for t in Tier.objects.order_by("rank")],
            "tier_basis": programme.tier_basis, "tier_window_days": programme.tier_window_days,
            "return_window_days": programme.return_window_days,
            "points_validity_days": programme.points_validity_days,
        }))


# --- insight ----------------------------------------------------------------------------------


class InsightPage(LimitOffsetPagination):
    """The contract's pages; at most 500 rows at once, whatever `limit` asks."""

    max_limit = 500


PAGE_PARAMETERS = [
    OpenApiParameter("limit", int, required=False,
                     description="Rows per page (default 50, at most 500)."),
    OpenApiParameter("offset", int, required=False, description="Rows to skip."),
]


class SegmentListView(generics.GenericAPIView, ApiView):
    required_scopes = {"GET": (INSIGHT_READ,)}
    pagination_class = InsightPage
    serializer_class = s.SegmentListItemSerializer

    @extend_schema(operation_id="segments_list", parameters=PAGE_PARAMETERS,
                   responses={200: s.SegmentPageSerializer, **errors()},
                   description="The segments with their member counts (insight:read).")
    def get(self, request):
        page = self.paginate_queryset(Segment.objects.order_by("code"))
        counts = figures.segment_counts()
        rows = [{"code": segment.code, "name": segment.name,
                 "description": segment.description, "active": segment.active,
                 "members": counts.get(segment.pk, 0)} for segment in page]
        return self.get_paginated_response(
            s.represent(s.SegmentListItemSerializer, rows, many=True))


class SegmentMembersView(generics.GenericAPIView, ApiView):
    required_scopes = {"GET": (INSIGHT_READ,)}
    pagination_class = InsightPage
    serializer_class = s.MemberSerializer

    @extend_schema(operation_id="segments_members", parameters=PAGE_PARAMETERS,
                   responses={200: s.MemberPageSerializer, **errors(404)},
                   description="The active members of a segment, by id, each with its "
                               "insight (insight:read). An unknown code: 404.")
    def get(self, request, code: str):
        segment = find_segment(code)
        page = self.paginate_queryset(figures.members_in_segment(segment))
        return self.get_paginated_response(s.represent(
            s.MemberSerializer, selectors.member_payloads(page, store=self.caller.store,
                                                          insight=True), many=True))


def find_segment(code: str) -> Segment:
    # A segment code is a short slug; anything else names none (and never reaches the
    # database, which refuses some characters).
    slug = code.replace("-", "").replace("_", "")
    segment = None
    if len(code) <= 32 and slug.isascii() and slug.isalnum():
        segment = Segment.objects.filter(code=code).first()
    if segment is None:
        raise NotFound(fields={"code": code if len(code) <= 32 and code.isprintable() else "…"})
    return segment
