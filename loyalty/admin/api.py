"""API keys: created here (the key is shown once), scoped, revocable, last use shown."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.admin import APIKeyModelAdmin

from loyalty.models import ApiKey, IdempotencyRecord


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=ApiKey.Scope.choices,
                                       widget=forms.CheckboxSelectMultiple, label=_("scopes"))

    class Meta:
        model = ApiKey
        fields = ["name", "store", "scopes", "expiry_date", "revoked"]


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    form = ApiKeyForm
    list_display = ("prefix", "name", "store", "scope_list", "created", "last_used_at",
                    "expiry_date", "_has_expired", "revoked")
    list_filter = ("store", "revoked", "created")
    list_select_related = ("store",)
    search_fields = ("name", "prefix")
    actions = ["revoke"]

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def get_readonly_fields(self, request, obj=None):
        fields = (*super().get_readonly_fields(request, obj), "last_used_at")
        return (*fields, "store") if obj is not None else fields

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request, queryset):
        from loyalty.services.apikeys import revoke_api_key

        for api_key in queryset:
            revoke_api_key(prefix=api_key.prefix)
        self.message_user(request, _("Keys revoked."))


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("key", "owner", "status_code", "created_at", "expires_at")
    list_filter = ("status_code",)
    search_fields = ("key", "owner")
    readonly_fields = ("owner", "key", "request_hash", "status_code", "response_body",
                       "created_at", "expires_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
