"""The e-shop's rewards and vouchers endpoints, on the API's conventions."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from loyalty.api.idempotency import idempotent
from loyalty.api.serializers import page_of, represent
from loyalty.api.views import IDEMPOTENCY_HEADER, ApiView, errors
from rewards import services
from rewards.models import Reward

REWARD_KINDS = Reward.Kind.values


class RewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    kind = serializers.ChoiceField(choices=REWARD_KINDS)
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    points_cost = serializers.IntegerField()
    stock = serializers.IntegerField(allow_null=True)
    tier = serializers.CharField(allow_null=True, help_text="The code of the tier required.")
    eligible = serializers.BooleanField(allow_null=True,
                                        help_text="Null unless member_id is given.")
    reason = serializers.CharField(allow_null=True, help_text="Why not, as an error code.")


class RedemptionCreateSerializer(serializers.Serializer):
    member_id = serializers.IntegerField(min_value=1)
    reward_id = serializers.IntegerField(min_value=1)
    redemption_id = serializers.CharField(max_length=100)


class VoucherSerializer(serializers.Serializer):
    code = serializers.CharField()
    kind = serializers.ChoiceField(choices=REWARD_KINDS)
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    expires_at = serializers.DateTimeField()


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    redemption_id = serializers.CharField()
    points_spent = serializers.IntegerField()
    balance = serializers.IntegerField()
    voucher = VoucherSerializer()


class ValidateSerializer(serializers.Serializer):
    order_amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0,
                                            required=False)


class ValidationResultSerializer(serializers.Serializer):
    code = serializers.CharField()
    kind = serializers.ChoiceField(choices=REWARD_KINDS)
    value = serializers.DecimalField(max_digits=12, decimal_places=2)
    discount = serializers.DecimalField(max_digits=12, decimal_places=2)
    member_id = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class VoucherRedeemSerializer(serializers.Serializer):
    order_id = serializers.CharField(max_length=100)


class VoucherUseSerializer(serializers.Serializer):
    code = serializers.CharField()
    status = serializers.CharField()
    order_id = serializers.CharField()
    member_id = serializers.IntegerField()
    used_at = serializers.DateTimeField()


class RewardListView(ApiView):
    required_scopes = {"GET": ("members:read",)}

    @extend_schema(operation_id="rewards_list",
                   parameters=[OpenApiParameter("member_id", int, required=False)],
                   responses={200: page_of(RewardSerializer, "RewardPageSerializer"),
                              **errors(400, 404)})
    def get(self, request):
        member = None
        raw = request.query_params.get("member_id")
        if raw is not None:
            if not (raw.isascii() and raw.isdigit()):
                raise ValidationError({"member_id": "a member id"})
            member = self.member_or_404(int(raw))
        rows = [{
            "id": reward.pk, "name": reward.name,
            "description": reward.description, "kind": reward.kind,
            "value": reward.value, "points_cost": reward.points_cost, "stock": reward.stock,
            "tier": reward.tier_required.code if reward.tier_required else None,
            "eligible": None if member is None else reason is None,
            "reason": reason,
        } for reward, reason in services.catalogue_for(member=member, store=self.caller.store)]
        return Response({"count": len(rows), "next": None, "previous": None,
                         "results": represent(RewardSerializer, rows, many=True)})


def voucher_payload(voucher) -> dict:
    return {"code": voucher.formatted_code, "kind": voucher.kind, "value": voucher.value,
            "expires_at": voucher.expires_at}


class RedemptionView(ApiView):
    required_scopes = {"POST": ("redeem",)}

    @extend_schema(operation_id="redemptions_create", request=RedemptionCreateSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={201: RedemptionSerializer, **errors(400, 404, 409)},
                   description="Natural key: redemption_id. 409 insufficient_points, "
                               "out_of_stock, tier_required, reward_unavailable, "
                               "member_limit_reached, redemption_conflict.")
    @idempotent
    def post(self, request):
        data = self.valid(RedemptionCreateSerializer)
        member = self.member_or_404(data["member_id"])
        redemption = services.redeem_reward(
            member=member, reward_id=data["reward_id"], redemption_id=data["redemption_id"],
            store=self.caller.store, by=self.caller.user).obj
        return Response(represent(RedemptionSerializer, {
            "id": redemption.pk, "redemption_id": redemption.redemption_id,
            "points_spent": redemption.points_spent, "balance": redemption.balance_after,
            "voucher": voucher_payload(redemption.voucher),
        }), status=status.HTTP_201_CREATED)


class VoucherValidateView(ApiView):
    required_scopes = {"POST": ("redeem",)}

    @extend_schema(operation_id="vouchers_validate", request=ValidateSerializer,
                   responses={200: ValidationResultSerializer, **errors(400, 404, 409)},
                   description="400 voucher_code_invalid (mistyped), 404 not_found, "
                               "409 voucher_used, voucher_expired, voucher_cancelled, "
                               "voucher_not_valid_here.")
    def post(self, request, code: str):
        data = self.valid(ValidateSerializer)
        voucher, discount = services.validate_voucher(
            code=code, order_amount=data.get("order_amount"), store=self.caller.store)
        return Response(represent(ValidationResultSerializer, {
            **voucher_payload(voucher), "discount": discount, "member_id": voucher.member_id,
        }))


class VoucherRedeemView(ApiView):
    required_scopes = {"POST": ("redeem",)}

    @extend_schema(operation_id="vouchers_redeem", request=VoucherRedeemSerializer,
                   parameters=[IDEMPOTENCY_HEADER],
                   responses={200: VoucherUseSerializer, **errors(400, 404, 409)},
                   description="Idempotent per order: the same order_id again is 200 "
                               "unchanged; another order is 409 voucher_used.")
    @idempotent
    def post(self, request, code: str):
        data = self.valid(VoucherRedeemSerializer)
        voucher = services.redeem_voucher(code=code, order_id=data["order_id"],
                                          store=self.caller.store).obj
        return Response(represent(VoucherUseSerializer, {
            "code": voucher.formatted_code, "status": voucher.status,
            "order_id": voucher.used_order_id, "member_id": voucher.member_id,
            "used_at": voucher.used_at,
        }))


