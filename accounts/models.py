"""Users log in with their email; staff act for the stores they are given roles in."""

from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A login: a customer, a cashier, a manager or a programme admin."""

    username = None
    email = models.EmailField(_("email address"), unique=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    # What the sign-up form asked (birth date, marketing consents and when they were given),
    # kept until the email is confirmed and the member exists
    # (accounts.services.link_user_to_member applies it, then empties it).
    signup_answers = models.JSONField(_("sign-up answers"), default=dict, blank=True,
                                      editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.email


class StaffRole(models.Model):
    """What a member of staff may do, and for which store.

    A cashier records purchases and redeems rewards for their store; a manager
    also adjusts points and sees the store's reports. Programme admins (a role
    with no store, or a superuser) configure everything, for every store.
    """

    class Role(models.TextChoices):
        CASHIER = "cashier", _("Cashier")
        MANAGER = "manager", _("Manager")
        ADMIN = "admin", _("Programme admin")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="staff_roles",
                             verbose_name=_("user"))
    store = models.ForeignKey("loyalty.Store", on_delete=models.CASCADE, null=True, blank=True,
                              related_name="staff_roles", verbose_name=_("store"),
                              help_text=_("Empty for a programme admin (every store)."))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices)

    class Meta:
        verbose_name = _("staff role")
        verbose_name_plural = _("staff roles")
        constraints = [
            models.UniqueConstraint(fields=["user", "store"], name="one_role_per_user_and_store"),
            models.CheckConstraint(
                condition=models.Q(role="admin") | models.Q(store__isnull=False),
                name="store_roles_name_a_store",
            ),
        ]

    def __str__(self):
        return f"{self.user} — {self.get_role_display()} @ {self.store or '*'}"
