"""Mounted at /staff/."""

from django.urls import path

from loyalty.staff import campaigns, claims, imports, insight, messages, reviews, views

app_name = "staff"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("store/", views.store, name="store"),
    path("scan/", views.scan, name="scan"),
    path("scan/lookup/", views.lookup, name="lookup"),
    path("scan/purchase/", views.purchase, name="purchase"),
    path("scan/reward/", views.redeem_reward, name="redeem-reward"),
    path("scan/voucher/", views.redeem_voucher, name="redeem-voucher"),
    path("scan/voucher/undo/", views.undo_voucher, name="undo-voucher"),
    path("scan/refund/", views.refund, name="refund"),
    path("scan/refund/receipt/", views.refund_receipt, name="refund-receipt"),
    path("scan/cards/block/", views.block_card, name="block-card"),
    path("scan/cards/link/", views.link_card, name="link-card"),
    path("cards/new/", views.issue_card, name="issue-card"),
    path("sale/", claims.sale, name="sale"),
    path("receipts/<int:purchase_id>/", claims.receipt, name="receipt"),
    path("insight/", insight.insight, name="insight"),
    path("insight/members/", insight.members, name="insight-members"),
    path("insight/members.csv", insight.members_csv, name="insight-members-csv"),
    path("insight/<slug:figure>.csv", insight.figure_csv, name="insight-csv"),
    path("reviews/", reviews.reviews_page_view, name="reviews"),
    path("reviews/<int:review_id>/follow-up/", reviews.follow_up, name="review-follow-up"),
    path("messages/", messages.messages_overview, name="messages"),
    path("messages/<slug:kind>/", messages.journey_page, name="journey"),
    path("campaigns/", campaigns.campaign_list, name="campaigns"),
    path("campaigns/new/", campaigns.campaign_form, name="campaign-new"),
    path("campaigns/<int:pk>/", campaigns.campaign_detail, name="campaign"),
    path("campaigns/<int:pk>/edit/", campaigns.campaign_form, name="campaign-edit"),
    path("campaigns/<int:pk>/<slug:action>/", campaigns.campaign_action, name="campaign-action"),
    path("imports/", imports.imports, name="imports"),
    path("imports/<uuid:uuid>/", imports.import_job, name="import-job"),
    path("imports/<uuid:uuid>/progress/", imports.import_progress, name="import-progress"),
    path("imports/<uuid:uuid>/rejected.csv", imports.import_rejected, name="import-rejected"),
]
