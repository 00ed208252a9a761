"""The customer portal's rewards pages."""

from django.urls import path

from rewards import views

app_name = "rewards"

urlpatterns = [
    path("rewards/", views.catalogue, name="catalogue"),
    path("rewards/<int:reward_id>/redeem/", views.redeem, name="redeem"),
    path("rewards/vouchers/", views.vouchers, name="vouchers"),
    path("rewards/vouchers/<int:voucher_id>/cancel/", views.cancel, name="cancel"),
    path("rewards/vouchers/<int:voucher_id>/qr.svg", views.voucher_qr, name="voucher-qr"),
]
