from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from loyalty.api import views
from rewards import api as rewards_api

app_name = "api"

v1 = [
    path("members/", views.MemberListView.as_view(), name="members"),
    path("members/<int:member_id>/", views.MemberDetailView.as_view(), name="member"),
    path("members/<int:member_id>/transactions/", views.MemberTransactionsView.as_view(),
         name="member-transactions"),
    path("members/<int:member_id>/merge/", views.MemberMergeView.as_view(), name="member-merge"),
    path("purchases/", views.PurchaseView.as_view(), name="purchases"),
    path("purchases/<int:purchase_id>/refunds/", views.RefundView.as_view(), name="refunds"),
    path("purchases/<int:purchase_id>/claim/", views.PurchaseClaimView.as_view(),
         name="purchase-claim"),
    path("events/", views.EventView.as_view(), name="events"),
    path("cards/resolve/", views.CardResolveView.as_view(), name="card-resolve"),
    path("programme/", views.ProgrammeView.as_view(), name="programme"),
    path("segments/", views.SegmentListView.as_view(), name="segments"),
    path("segments/<str:code>/members/", views.SegmentMembersView.as_view(),
         name="segment-members"),
    path("rewards/", rewards_api.RewardListView.as_view(), name="rewards"),
    path("redemptions/", rewards_api.RedemptionView.as_view(), name="redemptions"),
    path("vouchers/<str:code>/validate/", rewards_api.VoucherValidateView.as_view(),
         name="voucher-validate"),
    path("vouchers/<str:code>/redeem/", rewards_api.VoucherRedeemView.as_view(),
         name="voucher-redeem"),
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI sets inline styles; its scripts are same-origin files (the "split" view).
    path("docs/", csp_update({"style-src": [SELF, UNSAFE_INLINE]})(
        SpectacularSwaggerSplitView.as_view(url_name="api:schema")), name="docs"),
]
