from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

RATINGS = range(1, 6)


class Review(models.Model):
    """A member's rating of one of their purchases, 1 to 5, with an optional comment.

    Once per purchase (the one-to-one); the store is the purchase's. A low rating
    (at or below the programme's threshold) needs a follow-up by the store's manager:
    `needs_follow_up` stays set as the record that it was low, and `followed_up_at`
    says it was dealt with. On erasure the comment and the note are blanked and the
    rating stays, for the store's figures, linked to the anonymised member only.
    """

    purchase = models.OneToOneField("loyalty.Purchase", on_delete=models.PROTECT,
                                    related_name="review", verbose_name=_("purchase"))
    member = models.ForeignKey("loyalty.Member", on_delete=models.PROTECT,
                               related_name="reviews", verbose_name=_("member"))
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT,
                              related_name="reviews", verbose_name=_("store"))
    rating = models.PositiveSmallIntegerField(_("rating"))
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("posted at"))
    action_event = models.ForeignKey("loyalty.ActionEvent", on_delete=models.PROTECT,
                                     null=True, blank=True, related_name="+",
                                     verbose_name=_("points earned by"))
    needs_follow_up = models.BooleanField(_("needs a follow-up"), default=False)
    followed_up_at = models.DateTimeField(_("followed up at"), null=True, blank=True)
    followed_up_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                       null=True, blank=True, related_name="+",
                                       verbose_name=_("followed up by"))
    follow_up_note = models.TextField(_("follow-up note"), blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        constraints = [
            models.CheckConstraint(condition=models.Q(rating__gte=1, rating__lte=5),
                                   name="review_rating_1_to_5"),
        ]
        indexes = [
            models.Index(fields=["store", "created_at"], name="review_store_time"),
            models.Index(fields=["store", "needs_follow_up", "followed_up_at"],
                         name="review_follow_up"),
        ]

    def __str__(self):
        return f"{self.purchase_id}: {self.rating}/5"

    @property
    def awaits_follow_up(self) -> bool:
        return self.needs_follow_up and self.followed_up_at is None
