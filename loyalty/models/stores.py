import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _


def new_claim_secret() -> str:
    return secrets.token_hex(32)


class Store(models.Model):
    """A shop or a sales channel: the till in Paris, the e-shop."""

    class Kind(models.TextChoices):
        IN_STORE = "in_store", _("In store")
        ONLINE = "online", _("Online")

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices,
                            default=Kind.IN_STORE)
    active = models.BooleanField(_("active"), default=True)
    # Signs the claim codes of this store's receipts (loyalty.services.claims). Its own
    # secret: API keys are stored hashed, and a store may have several, or none.
    claim_secret = models.CharField(max_length=64, default=new_claim_secret, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")

    def __str__(self):
        return self.name
