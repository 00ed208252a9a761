"""Users (email login, no username) and their staff roles."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.models import StaffRole, User


class UserCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email",)
        field_classes = {}

    def clean_email(self):
        # Emails are the login: stored lower-case, unique whatever their case.
        email = User.objects.normalize_email(self.cleaned_data.get("email") or "").lower()
        if User.objects.filter(email__iexact=email).exists():
            raise ValidationError(_("A user with this email address already exists."),
                                  code="unique")
        return email


class UserEditForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes = {}

    def clean_email(self):
        email = User.objects.normalize_email(self.cleaned_data.get("email") or "").lower()
        if User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk).exists():
            raise ValidationError(_("A user with this email address already exists."),
                                  code="unique")
        return email


class StaffRoleInline(admin.TabularInline):
    model = StaffRole
    fields = ("role", "store")
    extra = 0

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("store")


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "language")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups",
                                       "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2")}),
    )
    list_display = ("email", "first_name", "last_name", "is_staff", "is_superuser",
                    "is_active", "last_login")
    # Customers have accounts too: no date_hierarchy (it scans every user), a date filter.
    list_filter = ("is_staff", "is_superuser", "is_active", "staff_roles__role", "date_joined",
                   "groups")
    search_fields = ("email", "first_name", "last_name")
    ordering = ("email",)
    show_full_result_count = False
    inlines = (StaffRoleInline,)
    readonly_fields = ("last_login", "date_joined")

    def get_inlines(self, request, obj):
        return () if obj is None else self.inlines


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "store")
    list_filter = ("role", "store")
    list_select_related = ("user", "store")
    search_fields = ("user__email", "store__name", "store__code")
    autocomplete_fields = ("user",)
