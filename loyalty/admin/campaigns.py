"""Campaigns, read-only: managers write, schedule and read them on the staff pages
(/staff/campaigns/), which go through the services; the admin shows what was stored."""

from django.contrib import admin

from loyalty.admin.base import ReadOnlyModelAdmin
from loyalty.models import Campaign, CampaignMember


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyModelAdmin):
    list_display = ("name", "status", "channel", "holdout_percent", "offer", "scheduled_at",
                    "sent_at")
    list_filter = ("status", "channel", "offer")
    search_fields = ("name",)


@admin.register(CampaignMember)
class CampaignMemberAdmin(ReadOnlyModelAdmin):
    list_display = ("campaign", "member", "group")
    list_filter = ("group",)
    list_select_related = ("campaign", "member")
    search_fields = ("=member__card_number", "member__email", "campaign__name")
    raw_id_fields = ("campaign", "member")
