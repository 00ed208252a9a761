from django.db import models
from django.utils.translation import gettext_lazy as _


class Card(models.Model):
    """A loyalty card. Every member has a digital card; plastic cards come from the till.

    Numbers are short digit strings ending in a Luhn check digit, unique across
    every card, so that a typed number with a slip is refused rather than
    matched to somebody else.
    """

    class Kind(models.TextChoices):
        DIGITAL = "digital", _("Digital")
        PHYSICAL = "physical", _("Physical")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        BLOCKED = "blocked", _("Blocked")

    member = models.ForeignKey("loyalty.Member", on_delete=models.CASCADE, related_name="cards",
                               verbose_name=_("member"))
    number = models.CharField(_("number"), max_length=16, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.DIGITAL)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.ACTIVE)
    issued_at = models.DateTimeField(_("issued at"), auto_now_add=True)
    issued_by_store = models.ForeignKey("loyalty.Store", on_delete=models.SET_NULL, null=True,
                                        blank=True, related_name="+")
    blocked_at = models.DateTimeField(_("blocked at"), null=True, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("card")
        verbose_name_plural = _("cards")

    def __str__(self):
        return self.number
