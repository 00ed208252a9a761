from django.db import models
from django.utils.translation import gettext_lazy as _
from rest_framework_api_key.models import AbstractAPIKey


class ApiKey(AbstractAPIKey):
    """A machine's key: one store (or channel) and a set of scopes. Stored hashed."""

    class Scope(models.TextChoices):
        MEMBERS_READ = "members:read", _("Read members")
        MEMBERS_WRITE = "members:write", _("Enrol members")
        MEMBERS_MERGE = "members:merge", _("Merge duplicate members")
        PURCHASES_WRITE = "purchases:write", _("Record purchases and refunds")
        EVENTS_WRITE = "events:write", _("Report actions that earn points")
        REDEEM = "redeem", _("Redeem rewards and vouchers")
        INSIGHT_READ = "insight:read", _("Read members' scores, segments and value")

    store = models.ForeignKey("loyalty.Store", on_delete=models.CASCADE, related_name="api_keys",
                              verbose_name=_("store"))
    scopes = models.JSONField(_("scopes"), default=list)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first response to a request sent with an `Idempotency-Key` header.

    A replay with the same key and body gets this response back; the same key
    with another body is refused. Records expire after IDEMPOTENCY_KEY_TTL.
    """

    owner = models.CharField(max_length=160, help_text="The API key or user that sent it.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [models.UniqueConstraint(fields=["owner", "key"],
                                               name="unique_idempotency_key")]

    def __str__(self):
        return self.key

    @property
    def completed(self) -> bool:
        return self.status_code is not None
