"""Members, their cards and identities: the single customer view, and its actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.roles import may_adjust_points, may_merge_members
from loyalty import selectors
from loyalty.admin.base import (
    IntermediateActionMixin,
    ReadOnlyModelAdmin,
    ReadOnlyTabularInline,
    RecentTabularInline,
    admin_link,
    changelist_link,
    describe_error,
    json_pairs,
)
from loyalty.admin.forms import AdjustPointsForm, MemberAddForm, MemberChangeForm, MergeMembersForm
from loyalty.models import (
    Card,
    ClvFit,
    ConsentChange,
    ExternalId,
    Member,
    MemberInsight,
    MemberMerge,
    Message,
    PointsEntry,
    Purchase,
    SegmentPeriod,
    StagePeriod,
    TierChange,
)
from loyalty.services import cards as card_services
from loyalty.services import history, ledger
from loyalty.services import members as member_services
from loyalty.services import tiers as tier_services
from loyalty.services.earning import current_programme
from loyalty.services.errors import DomainError

MEMBER_SEARCH_HELP = _("Card number or external id (exact), email, phone or name.")


class CardInline(ReadOnlyTabularInline):
    model = Card
    fields = ("number", "kind", "status", "issued_at", "issued_by_store", "blocked_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("issued_by_store")


class ExternalIdInline(admin.TabularInline):
    model = ExternalId
    fields = ("store", "value", "created_at")
    readonly_fields = ("created_at",)
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store")

    def _open(self, obj) -> bool:
        return obj is None or obj.is_active

    def has_add_permission(self, request, obj=None):
        return self._open(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._open(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._open(obj) and super().has_delete_permission(request, obj)


class TierChangeInline(RecentTabularInline):
    model = TierChange
    fields = ("at", "from_tier", "to_tier", "reason", "qualifying_value", "by")
    readonly_fields = fields
    verbose_name_plural = _("tier history (most recent)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("from_tier", "to_tier", "by")


class PointsEntryInline(RecentTabularInline):
    model = PointsEntry
    fields = ("created_at", "kind", "points", "balance_after", "description", "reference",
              "store", "created_by")
    readonly_fields = fields
    verbose_name_plural = _("points ledger (most recent)")

    def get_queryset(self, request):
        return history.history_queryset(
            super().get_queryset(request).select_related("store", "created_by"))

    @admin.display(description=_("description"))
    def description(self, obj):
        return history.describe_entry(obj)


class ConsentChangeInline(RecentTabularInline):
    model = ConsentChange
    fields = ("at", "channel", "granted", "source")
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = _("consent history (most recent)")


class MessageInline(RecentTabularInline):
    model = Message
    fields = ("created_at", "kind", "channel", "purpose", "status", "reason", "sent_at")
    readonly_fields = fields
    verbose_name_plural = _("messages (most recent)")


class SegmentPeriodInline(RecentTabularInline):
    model = SegmentPeriod
    fields = ("segment", "entered_at", "left_at")
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = _("segment history (most recent)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("segment")


class StagePeriodInline(RecentTabularInline):
    model = StagePeriod
    fields = ("stage", "entered_at", "left_at")
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = _("lifecycle stage history (most recent)")


INSIGHT_FIELDS = ("insight_rfm", "insight_raw", "insight_segment", "insight_stage",
                  "insight_historic", "insight_predicted", "insight_p_alive",
                  "insight_expected", "insight_fit")


class MemberInsightAdminMixin:
    """The member's insight as the last nightly run left it, read-only: the scores and the
    figures behind them, segment and stage with their dates, the value and its model."""

    def _insight(self, obj):
        if not hasattr(obj, "_insight_shown"):
            obj._insight_shown = (MemberInsight.objects.select_related("segment")
                                  .filter(member_id=obj.pk).first() if obj.pk else None)
        return obj._insight_shown

    def _fit(self, obj):
        row = self._insight(obj)
        if not hasattr(obj, "_fit_shown"):
            obj._fit_shown = None
            if row is not None and row.clv_at is not None:
                obj._fit_shown = (ClvFit.objects.filter(fitted_at__lte=row.clv_at)
                                  .order_by("-fitted_at", "-id").first())
        return obj._fit_shown

    @admin.display(description=_("RFM score"))
    def insight_rfm(self, obj):
        row = self._insight(obj)
        if row is None:
            return _("Not computed yet: the nightly insight run has not seen this member.")
        if row.r is None:
            return _("No score: no purchase.")
        return f"{row.rfm_code} (R {row.r} · F {row.f} · M {row.m})"

    @admin.display(description=_("behind the score"))
    def insight_raw(self, obj):
        row = self._insight(obj)
        if row is None or row.recency_days is None:
            return "-"
        return _("%(days)s days since the last purchase; %(count)s purchases and %(spend)s net "
                 "spend in the RFM window; %(total)s purchases in all (computed %(at)s)") % {
            "days": row.recency_days, "count": row.frequency, "spend": row.monetary,
            "total": row.purchases, "at": formats.date_format(
                timezone.localtime(row.computed_at), "SHORT_DATETIME_FORMAT")}

    @admin.display(description=_("segment"))
    def insight_segment(self, obj):
        row = self._insight(obj)
        if row is None or row.segment is None:
            return "-"
        return _("%(segment)s since %(since)s") % {
            "segment": row.segment.name, "since": _date(row.segment_since)}

    @admin.display(description=_("lifecycle stage"))
    def insight_stage(self, obj):
        row = self._insight(obj)
        if row is None:
            return "-"
        return _("%(stage)s since %(since)s") % {"stage": row.get_stage_display(),
                                                  "since": _date(row.stage_since)}

    @admin.display(description=_("historic value (net spend)"))
    def insight_historic(self, obj):
        row = self._insight(obj)
        return "-" if row is None else row.historic_value

    @admin.display(description=_("predicted value"))
    def insight_predicted(self, obj):
        row = self._insight(obj)
        if row is None or row.predicted_value is None:
            return _("No prediction (too little history, or the model is not fitted yet).")
        fit = self._fit(obj)
        if fit is None:
            return row.predicted_value
        return _("%(value)s over %(months)s months") % {"value": row.predicted_value,
                                                          "months": fit.horizon_months}

    @admin.display(description=_("probability still active"))
    def insight_p_alive(self, obj):
        row = self._insight(obj)
        return "-" if row is None or row.p_alive is None else f"{row.p_alive:.1%}"

    @admin.display(description=_("expected purchases over the horizon"))
    def insight_expected(self, obj):
        row = self._insight(obj)
        if row is None or row.expected_purchases is None:
            return "-"
        spend = f" × {row.expected_spend}" if row.expected_spend is not None else ""
        return f"{row.expected_purchases:.2f}{spend}"

    @admin.display(description=_("value model"))
    def insight_fit(self, obj):
        row = self._insight(obj)
        fit = self._fit(obj)
        if row is None or row.clv_at is None or fit is None:
            return "-"
        text = _("fitted %(at)s on purchases up to %(end)s") % {
            "at": _date(fit.fitted_at), "end": formats.date_format(fit.calibration_end)}
        if admin.site.is_registered(ClvFit):
            text = admin_link(fit, text)
        return format_html("{} ({})", text, fit.get_status_display())


PURCHASE_FIGURES = ("purchase_spend", "purchase_visits", "purchase_average",
                    "purchase_last")


class MemberPurchaseFiguresMixin:
    """Spend, visits, average basket and last purchase, read-only, from one aggregate."""

    def _figures(self, obj):
        if not hasattr(obj, "_purchase_figures"):
            obj._purchase_figures = (selectors.purchase_figures(member_id=obj.pk)
                                     if obj.pk else None)
        return obj._purchase_figures

    @admin.display(description=_("spend (net of refunds)"))
    def purchase_spend(self, obj):
        figures = self._figures(obj)
        return "-" if figures is None else _money(figures.spend)

    @admin.display(description=_("visits"))
    def purchase_visits(self, obj):
        figures = self._figures(obj)
        return "-" if figures is None else formats.number_format(figures.visits,
                                                                  force_grouping=True)

    @admin.display(description=_("average basket"))
    def purchase_average(self, obj):
        figures = self._figures(obj)
        if figures is None or figures.average_basket is None:
            return "-"
        return _money(figures.average_basket)

    @admin.display(description=_("last purchase"))
    def purchase_last(self, obj):
        figures = self._figures(obj)
        if figures is None or figures.last_purchase_at is None:
            return _("No purchase yet.")
        return formats.date_format(timezone.localtime(figures.last_purchase_at),
                                   "SHORT_DATETIME_FORMAT")


def _money(amount) -> str:
    shown = formats.number_format(amount, 2, use_l10n=True, force_grouping=True)
    return f"{shown} {current_programme().currency}"


def _date(value) -> str:
    if value is None:
        return "-"
    return formats.date_format(timezone.localtime(value), "SHORT_DATE_FORMAT")


@admin.register(Member)
class MemberAdmin(MemberInsightAdminMixin, MemberPurchaseFiguresMixin, IntermediateActionMixin,
                  admin.ModelAdmin):
    form = MemberChangeForm
    add_form = MemberAddForm
    list_display = ("card_number", "name", "email", "phone", "tier", "balance", "pending",
                    "status", "created_at")
    list_display_links = ("card_number", "name")
    # No date_hierarchy: it reads the dates of every member on each page load. The date
    # filter's ranges cost nothing until chosen, and then use the created_at index.
    list_filter = ("status", "tier", "email_marketing", "sms_marketing", "created_at")
    list_select_related = ("tier",)
    search_fields = ("email", "phone", "last_name", "first_name")
    search_help_text = MEMBER_SEARCH_HELP
    show_full_result_count = False
    list_per_page = 50
    autocomplete_fields = ("user", "referred_by")
    actions = ("adjust_points", "merge_members", "reevaluate_tier")
    inlines = (CardInline, ExternalIdInline, TierChangeInline, PointsEntryInline,
               ConsentChangeInline, MessageInline, SegmentPeriodInline, StagePeriodInline)
    readonly_fields = ("card_number", "status", "merged_into", "balance", "pending",
                       "lifetime_earned", "tier", "history", "email_marketing",
                       "email_marketing_at", "sms_marketing", "sms_marketing_at", "created_at",
                       "updated_at", *INSIGHT_FIELDS, *PURCHASE_FIGURES)
    fieldsets = (
        (None, {"fields": ("card_number", "status", "merged_into")}),
        (_("Person"), {"fields": ("first_name", "last_name", "email", "phone", "birth_date",
                                  "language", "user", "referred_by")}),
        (_("Points and tier"), {
            "fields": ("balance", "pending", "lifetime_earned", "tier", "history"),
            "description": _("Points change only through the ledger: use the “Adjust "
                             "points” action of the member list.")}),
        (_("Purchases"), {"fields": PURCHASE_FIGURES}),
        (_("Insight"), {
            "fields": INSIGHT_FIELDS,
            "description": _("As the last nightly insight run computed them: scores 1-5 by "
                             "quintiles of the programme's customers, the segment and stage "
                             "with the date each began, the lifetime value and its model.")}),
        (_("Marketing consents"), {"fields": ("email_marketing", "email_marketing_at",
                                              "sms_marketing", "sms_marketing_at")}),
        (_("Record"), {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )
    add_fieldsets = (
        (None, {
            "fields": ("email", "phone", "first_name", "last_name", "birth_date", "language"),
            "description": _("At least an email, a phone or an external id. The member gets "
                             "a digital card at once."),
        }),
        (_("Links"), {"fields": ("external_id", "store", "user", "referred_by")}),
    )

    @admin.display(description=_("name"), ordering="last_name")
    def name(self, obj):
        return obj.full_name or "-"

    @admin.display(description=_("history"))
    def history(self, obj):
        if obj.pk is None:
            return "-"
        return format_html(
            "{} · {}",
            changelist_link(PointsEntry, _("all ledger entries"), member__id__exact=obj.pk),
            changelist_link(Purchase, _("purchases"), member__id__exact=obj.pk))

    def get_search_results(self, request, queryset, search_term):
        # Card numbers, external ids and phones are looked up exactly, on their indexes,
        # without joins: with tens of thousands of members the list must stay quick.
        results, may_have_duplicates = super().get_search_results(request, queryset,
                                                                  search_term)
        term = search_term.strip()
        if not term:
            return results, may_have_duplicates
        exact = Q(pk__in=ExternalId.objects.filter(value=term).values("member_id"))
        number = card_services.normalise_card_number(term)
        if card_services.is_valid_card_number(number):
            exact |= Q(card_number=number) | Q(
                pk__in=Card.objects.filter(number=number).values("member_id"))
        try:
            phone = member_services.normalise_phone(term)
        except DomainError:
            phone = ""
        if phone:
            exact |= Q(phone=phone)
        return results | queryset.filter(exact), may_have_duplicates

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else super().get_fieldsets(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs.setdefault("form", self.add_form)
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        if not obj.is_active:  # a merged or erased member is a record, not a person to edit
            return (*self.readonly_fields, "first_name", "last_name", "email", "phone",
                    "birth_date", "language", "user", "referred_by")
        return self.readonly_fields

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines

    def has_delete_permission(self, request, obj=None):
        # Members are closed (merged, erased), never deleted: the ledger refers to them.
        return False

    def save_model(self, request, obj, form, change):
        if not change:
            return  # MemberAddForm created the member through the service.
        # Save only what the form changed: balances on this row belong to the ledger and
        # may have moved since the page was read.
        fields = form.changed_data
        if fields:
            obj.save(update_fields=[*fields, "updated_at"])

    # --- Actions ---------------------------------------------------------------------

    # The admin asks these several times a page; the roles are looked up once.
    def has_adjust_points_permission(self, request):
        if not hasattr(request, "_loyalty_may_adjust_points"):
            request._loyalty_may_adjust_points = may_adjust_points(request.user)
        return request._loyalty_may_adjust_points

    def has_merge_permission(self, request):
        if not hasattr(request, "_loyalty_may_merge"):
            request._loyalty_may_merge = may_merge_members(request.user)
        return request._loyalty_may_merge and self.has_change_permission(request)

    @admin.action(description=_("Adjust points…"), permissions=["adjust_points"])
    def adjust_points(self, request, queryset):
        if self.too_many(request, queryset):
            return None
        form = AdjustPointsForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            points, reason = form.cleaned_data["points"], form.cleaned_data["reason"]
            done = 0
            for member in queryset:
                try:
                    entry = ledger.adjust_points(member_id=member.pk, points=points,
                                                 reason=reason, by=request.user)
                except DomainError as error:
                    self.message_user(request, _("%(member)s: %(error)s") % {
                        "member": member, "error": describe_error(error)}, messages.ERROR)
                    continue
                done += 1
                self.log_change(request, entry.member, gettext("Adjusted points: %(points)+d "
                                "(%(reason)s)") % {"points": points, "reason": reason})
            if done:
                self.message_user(request, ngettext(
                    "%(points)+d points for %(count)d member.",
                    "%(points)+d points for %(count)d members.", done)
                    % {"points": points, "count": done}, messages.SUCCESS)
            return None
        return self.render_action_page(
            request, action="adjust_points", title=_("Adjust points"),
            template="admin/loyalty/member/adjust_points.html", form=form,
            objects=list(queryset))

    @admin.action(description=_("Merge two members…"), permissions=["merge"])
    def merge_members(self, request, queryset):
        members = list(queryset.select_related("tier")[:3])
        if len(members) != 2:
            self.message_user(request, _("Select exactly two members to merge."),
                              messages.ERROR)
            return None
        form = MergeMembersForm(request.POST if "apply" in request.POST else None,
                                members=members)
        if form.is_valid():
            survivor_id = form.cleaned_data["survivor"]
            duplicate = next(member for member in members if member.pk != survivor_id)
            try:
                survivor = member_services.merge_members(
                    survivor_id=survivor_id, duplicate_id=duplicate.pk, by=request.user,
                    reason=form.cleaned_data["reason"])
            except DomainError as error:
                self.message_user(request, describe_error(error), messages.ERROR)
                return None
            self.message_user(request, _("%(duplicate)s was merged into %(survivor)s.") % {
                "duplicate": duplicate.card_number, "survivor": survivor}, messages.SUCCESS)
            return HttpResponseRedirect(
                reverse("admin:loyalty_member_change", args=[survivor.pk],
                        current_app=self.admin_site.name))
        return self.render_action_page(
            request, action="merge_members", title=_("Merge two members"),
            template="admin/loyalty/member/merge_members.html", form=form, objects=members)

    @admin.action(description=_("Re-evaluate tier"), permissions=["change"])
    def reevaluate_tier(self, request, queryset):
        if self.too_many(request, queryset):
            return None
        changed = checked = 0
        for member in queryset:
            try:
                tier = tier_services.reevaluate_tier(member_id=member.pk)
            except DomainError as error:
                self.message_user(request, _("%(member)s: %(error)s") % {
                    "member": member, "error": describe_error(error)}, messages.ERROR)
                continue
            checked += 1
            changed += (tier.pk if tier else None) != member.tier_id
        if checked:
            self.message_user(request, _("%(checked)d re-evaluated, %(changed)d changed tier.")
                              % {"checked": checked, "changed": changed}, messages.SUCCESS)


@admin.register(Card)
class CardAdmin(ReadOnlyModelAdmin):
    list_display = ("number", "member_link", "kind", "status", "issued_at", "issued_by_store",
                    "blocked_at")
    list_filter = ("status", "kind", "issued_by_store")
    list_select_related = ("member", "issued_by_store")
    search_fields = ("=number", "=member__card_number", "member__email", "member__last_name")
    actions = ("block_card",)

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    def has_block_permission(self, request):
        return request.user.has_perm("loyalty.change_card")

    @admin.action(description=_("Block card"), permissions=["block"])
    def block_card(self, request, queryset):
        blocked = 0
        for card in queryset.filter(status=Card.Status.ACTIVE):
            card_services.block_card(card_id=card.pk)
            blocked += 1
        self.message_user(request, ngettext("%(count)d card blocked.",
                                            "%(count)d cards blocked.", blocked)
                          % {"count": blocked}, messages.SUCCESS)


@admin.register(ExternalId)
class ExternalIdAdmin(admin.ModelAdmin):
    list_display = ("value", "store", "member_link", "created_at")
    list_filter = ("store",)
    list_select_related = ("store", "member")
    search_fields = ("=value", "=member__card_number", "member__email")
    autocomplete_fields = ("member",)
    show_full_result_count = False

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)


@admin.register(ConsentChange)
class ConsentChangeAdmin(ReadOnlyModelAdmin):
    list_display = ("at", "member_link", "channel", "granted", "source")
    list_filter = ("channel", "granted")
    list_select_related = ("member",)
    search_fields = ("=member__card_number", "member__email", "source")
    date_hierarchy = "at"

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)


@admin.register(MemberMerge)
class MemberMergeAdmin(ReadOnlyModelAdmin):
    list_display = ("at", "duplicate", "survivor", "performed_by", "reason")
    list_select_related = ("duplicate", "survivor", "performed_by")
    search_fields = ("=duplicate__card_number", "=survivor__card_number", "reason")
    date_hierarchy = "at"
    fields = ("at", "duplicate", "survivor", "performed_by", "reason", "what_was_moved")
    readonly_fields = fields

    @admin.display(description=_("what was moved"))
    def what_was_moved(self, obj):
        return json_pairs(obj.moved)
