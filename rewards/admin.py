"""The rewards admin: the catalogue, redemptions (read-only) and vouchers.

Programme admins edit the catalogue here. Points are spent and vouchers used or
cancelled only through `rewards.services`, from the actions and the "Redeem for
a member" page; domain errors come back as messages or form errors.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from modeltranslation.admin import TranslationAdmin

from accounts.roles import stores_for
from loyalty import selectors
from loyalty.admin.base import (
    IntermediateActionMixin,
    ReadOnlyModelAdmin,
    add_domain_error,
    admin_link,
    describe_error,
)
from loyalty.models import Store
from loyalty.services.errors import DomainError
from rewards import codes, qr, services
from rewards.models import Redemption, Reward, Voucher

# Vouchers are used one basket at a time: a longer selection is a mistake.
MAX_VOUCHERS_PER_ACTION = 50


class StoreChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.name} ({obj.code})"


class RedeemForMemberForm(forms.Form):
    member_id = forms.IntegerField(label=_("Member id"), min_value=1,
                                   help_text=_("The number in the member's admin address."))
    store = StoreChoiceField(label=_("Store"), queryset=Store.objects.none(),
                             help_text=_("Where the member takes the reward."))
    # Drawn when the page is shown: submitting the same page twice redeems once.
    redemption_id = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores
        self.member = None

    def clean_member_id(self):
        member_id = self.cleaned_data["member_id"]
        self.member = selectors.active_member(member_id)
        if self.member is None:
            raise forms.ValidationError(_("No active member has this id."))
        return member_id


class UseVouchersForm(forms.Form):
    store = StoreChoiceField(label=_("Store"), queryset=Store.objects.none())
    order_id = forms.CharField(label=_("Order id"), max_length=100,
                               help_text=_("The receipt or order number the voucher is used "
                                           "for."))

    def __init__(self, *args, stores, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["store"].queryset = stores


class ConfirmForm(forms.Form):
    """Nothing to ask: the page only confirms the selection."""


@admin.register(Reward)
class RewardAdmin(IntermediateActionMixin, TranslationAdmin):
    list_display = ("name", "kind", "points_cost", "stock", "tier_required", "limit",
                    "availability", "active")
    list_display_links = ("name",)
    list_filter = ("active", "kind", "tier_required", "stores")
    list_select_related = ("tier_required",)
    search_fields = ("name_en", "name_fr")
    filter_horizontal = ("stores",)
    actions = ("redeem_for_member",)
    change_form_template = "rewards/admin/reward_change_form.html"
    fieldsets = (
        (_("What members read"), {
            "fields": ("name", "description"),
            "description": _("In English and in French; an empty French text shows the "
                             "English one.")}),
        (_("What the member gets"), {"fields": ("kind", "value", "image",
                                                "voucher_validity_days")}),
        (_("Price and eligibility"), {"fields": ("points_cost", "tier_required",
                                                 ("limit_count", "limit_period"))}),
        (_("Availability"), {"fields": ("active", ("available_from", "available_until"),
                                        "stock", "stores", "position")}),
    )

    @admin.display(description=_("limit per member"))
    def limit(self, obj):
        if obj.limit_count is None:
            return "-"
        return f"{obj.limit_count} {obj.get_limit_period_display()}"

    @admin.display(description=_("available"))
    def availability(self, obj):
        if not (obj.available_from or obj.available_until):
            return _("always")
        start = obj.available_from.date() if obj.available_from else "…"
        end = obj.available_until.date() if obj.available_until else "…"
        return f"{start} – {end}"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "stock" and formfield is not None:
            # The stock goes down with every redemption while the page is open: the form
            # carries the value it was shown with, so that an untouched stock reads as
            # unchanged (and is not written back) even if it moved meanwhile.
            formfield.show_hidden_initial = True
        return formfield

    def save_model(self, request, obj, form, change):
        if not change:
            return super().save_model(request, obj, form, change)
        # Only what the admin changed: writing back the stock the page was read with
        # would undo the redemptions made since.
        concrete = {field.name for field in Reward._meta.concrete_fields}
        fields = [name for name in form.changed_data if name in concrete]
        if fields:
            obj.save(update_fields=fields)
        return None

    # --- Redeem for a member ---------------------------------------------------------

    def get_urls(self):
        opts = self.model._meta
        return [
            path("<int:reward_id>/redeem/", self.admin_site.admin_view(self.redeem_view),
                 name=f"{opts.app_label}_{opts.model_name}_redeem"),
            *super().get_urls(),
        ]

    def has_redeem_permission(self, request) -> bool:
        return self.has_view_permission(request) and stores_for(request.user).exists()

    @admin.action(description=_("Redeem for a member…"), permissions=["redeem"])
    def redeem_for_member(self, request, queryset):
        rewards = list(queryset[:2])
        if len(rewards) != 1:
            self.message_user(request, _("Select exactly one reward to redeem."),
                              messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:rewards_reward_redeem",
                                            args=[rewards[0].pk],
                                            current_app=self.admin_site.name))

    def redeem_view(self, request, reward_id: int):
        reward = (Reward.objects.select_related("tier_required").prefetch_related("stores")
                  .filter(pk=reward_id).first())
        if reward is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta,
                                                         str(reward_id))
        if not self.has_redeem_permission(request):
            raise PermissionDenied
        stores = stores_for(request.user).order_by("name")
        if request.method == "POST":
            form = RedeemForMemberForm(request.POST, stores=stores)
        else:
            form = RedeemForMemberForm(stores=stores,
                                       initial={"redemption_id": f"admin-{uuid.uuid4().hex}"})
        if request.method == "POST" and form.is_valid():
            try:
                recorded = services.redeem_reward(
                    member=form.member, reward_id=reward.pk,
                    redemption_id=form.cleaned_data["redemption_id"],
                    store=form.cleaned_data["store"], by=request.user)
            except DomainError as error:
                add_domain_error(form, error)
            else:
                redemption = recorded.obj
                voucher = redemption.voucher
                if recorded.created:
                    self.log_change(request, reward, gettext(
                        "Redeemed for member %(member)s: voucher %(code)s") % {
                        "member": redemption.member_id, "code": voucher.formatted_code})
                self.message_user(request, format_html(
                    "{} {}", gettext(
                        "Voucher %(code)s issued to %(member)s: %(points)d points spent, "
                        "%(balance)d left.") % {
                        "code": voucher.formatted_code, "member": redemption.member,
                        "points": redemption.points_spent,
                        "balance": redemption.balance_after},
                    "" if recorded.created else gettext("(already done: nothing changed)")),
                    messages.SUCCESS)
                return HttpResponseRedirect(reverse(
                    "admin:rewards_voucher_change", args=[voucher.pk],
                    current_app=self.admin_site.name))
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "rewards/admin/redeem_for_member.html", {
            **self.admin_site.each_context(request),
            "title": _("Redeem “%(reward)s” for a member") % {"reward": reward.name},
            "opts": self.model._meta,
            "original": reward,
            "reward": reward,
            "form": form,
            "media": self.media + form.media,
        })


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyModelAdmin):
    list_display = ("created_at", "redemption_id", "member_link", "reward", "store",
                    "points_spent", "balance_after", "voucher_link")
    list_filter = ("reward", "store")
    list_select_related = ("member", "reward", "store", "voucher")
    search_fields = ("=redemption_id", "=member__card_number", "member__email")
    search_help_text = _("Redemption id or card number (exact), or email.")
    fields = ("redemption_id", "created_at", "member_link", "reward", "store", "points_spent",
              "balance_after", "entry", "voucher_link")
    readonly_fields = fields

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    @admin.display(description=_("voucher"))
    def voucher_link(self, obj):
        return admin_link(getattr(obj, "voucher", None))


@admin.register(Voucher)
class VoucherAdmin(IntermediateActionMixin, ReadOnlyModelAdmin):
    list_display = ("formatted_code", "member_link", "reward", "kind", "value", "status",
                    "issued_at", "expires_at", "used_at", "used_store", "used_order_id")
    list_filter = ("status", "source", "kind", "reward", "used_store")
    list_select_related = ("member", "reward", "used_store")
    search_fields = ("=used_order_id", "=member__card_number", "member__email")
    search_help_text = _("Voucher code (with or without dashes), card number, email or "
                         "order id.")
    actions = ("mark_used", "cancel_and_refund")
    fields = ("formatted_code", "qr_code", "status", "member_link", "reward", "kind", "value",
              "issued_at", "expires_at", "used_at", "used_store", "used_order_id",
              "cancelled_at", "source", "occasion_key", "redemption_link")
    readonly_fields = fields

    @admin.display(description=_("code"), ordering="code")
    def formatted_code(self, obj):
        return obj.formatted_code

    @admin.display(description=_("member"), ordering="member")
    def member_link(self, obj):
        return admin_link(obj.member)

    @admin.display(description=_("redemption"))
    def redemption_link(self, obj):
        return admin_link(obj.redemption)

    @admin.display(description=_("QR code"))
    def qr_code(self, obj):
        # Our own markup (a <path> of the code's modules), no style attributes: CSP-safe.
        return mark_safe(qr.voucher_svg(obj.code).decode())  # noqa: S308

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset,
                                                                  search_term)
        code = codes.normalise(search_term)
        if code and len(code) <= Voucher._meta.get_field("code").max_length:
            results = results | queryset.filter(code=code)
        return results, may_have_duplicates

    # --- Actions ---------------------------------------------------------------------

    def has_use_permission(self, request) -> bool:
        return (request.user.has_perm("rewards.change_voucher")
                and stores_for(request.user).exists())

    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("rewards.change_voucher")

    def _too_many(self, request, queryset) -> bool:
        count = queryset.count()
        if count > MAX_VOUCHERS_PER_ACTION:
            self.message_user(request, _(
                "%(count)d vouchers selected; an action works on at most %(max)d at once.")
                % {"count": count, "max": MAX_VOUCHERS_PER_ACTION}, messages.ERROR)
            return True
        return False

    def _report(self, request, done: int, message: str) -> None:
        if done:
            self.message_user(request, message, messages.SUCCESS)

    @admin.action(description=_("Mark as used at the till…"), permissions=["use"])
    def mark_used(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        form = UseVouchersForm(request.POST if "apply" in request.POST else None,
                               stores=stores_for(request.user).order_by("name"))
        if form.is_valid():
            store, order_id = form.cleaned_data["store"], form.cleaned_data["order_id"]
            done = 0
            for voucher in queryset.order_by("pk"):
                try:
                    recorded = services.redeem_voucher(code=voucher.code, order_id=order_id,
                                                       store=store)
                except DomainError as error:
                    self.message_user(request, _("%(code)s: %(error)s") % {
                        "code": voucher.formatted_code, "error": describe_error(error)},
                        messages.ERROR)
                    continue
                done += 1
                if recorded.created:
                    self.log_change(request, voucher, gettext(
                        "Used for order %(order)s in %(store)s") % {
                        "order": order_id, "store": store.code})
            self._report(request, done, ngettext(
                "%(count)d voucher used for order %(order)s.",
                "%(count)d vouchers used for order %(order)s.", done)
                % {"count": done, "order": order_id})
            return None
        return self.render_action_page(
            request, action="mark_used", title=_("Mark vouchers as used at the till"),
            template="rewards/admin/use_vouchers.html", form=form,
            objects=list(queryset.select_related("member", "reward")))

    @admin.action(description=_("Cancel and refund points…"), permissions=["cancel"])
    def cancel_and_refund(self, request, queryset):
        if self._too_many(request, queryset):
            return None
        if "apply" in request.POST:
            done = 0
            for voucher in queryset.order_by("pk"):
                try:
                    cancelled = services.cancel_voucher(voucher_id=voucher.pk, by=request.user)
                except DomainError as error:
                    self.message_user(request, _("%(code)s: %(error)s") % {
                        "code": voucher.formatted_code, "error": describe_error(error)},
                        messages.ERROR)
                    continue
                done += 1
                if voucher.status != Voucher.Status.CANCELLED:
                    self.log_change(request, cancelled, gettext(
                        "Cancelled; points returned to the member"))
            self._report(request, done, ngettext(
                "%(count)d voucher cancelled; its points are back with its member.",
                "%(count)d vouchers cancelled; their points are back with their members.",
                done) % {"count": done})
            return None
        return self.render_action_page(
            request, action="cancel_and_refund", title=_("Cancel vouchers and refund points"),
            template="rewards/admin/cancel_vouchers.html", form=ConfirmForm(),
            objects=list(queryset.select_related("member", "reward", "redemption")))
