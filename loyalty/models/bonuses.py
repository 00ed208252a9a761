"""A personal bonus on a member's next purchase: given by the second-purchase journey.

It applies to the first purchase the member makes between `starts_at` and
`expires_at`, once: the earning service consumes it under the member's lock,
records it in the purchase's rule trail (so a refund takes it back in
proportion) and notes the purchase here.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class PurchaseBonus(models.Model):
    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE,
                               related_name="purchase_bonuses", verbose_name=_("member"))
    occasion_key = models.CharField(
        _("occasion"), max_length=120, unique=True,
        help_text=_("Why it was given, e.g. second_purchase:42: once each."))
    factor = models.DecimalField(
        _("multiplier"), max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(1)])
    points = models.PositiveIntegerField(_("extra points"), default=0,
                                         validators=[MaxValueValidator(100_000)])
    starts_at = models.DateTimeField(_("from"))
    expires_at = models.DateTimeField(_("until"))
    purchase = models.OneToOneField("loyalty.Purchase", on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="bonus",
                                    verbose_name=_("used on purchase"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        ordering = ["-starts_at", "-id"]
        verbose_name = _("next-purchase bonus")
        verbose_name_plural = _("next-purchase bonuses")
        # The earning service's question at each purchase: an open bonus for this member?
        indexes = [models.Index(fields=["member", "expires_at"], name="purchase_bonus_open",
                                condition=models.Q(used_at__isnull=True))]

    def __str__(self):
        return self.occasion_key
