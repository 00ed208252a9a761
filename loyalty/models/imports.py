"""Imports of history (purchases) and of members from another programme.

A staff upload is kept here, file and all, so that any worker can run it and a
job whose worker died is found again by the sweeper (`next_attempt_at`): the
broker only makes it start sooner.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportJob(models.Model):
    class Kind(models.TextChoices):
        PURCHASES = "purchases", _("Purchases")
        MEMBERS = "members", _("Members")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        VALIDATING = "validating", _("Checking the file")
        WRITING = "writing", _("Importing")
        DONE = "done", _("Done")
        REJECTED = "rejected", _("Rejected: nothing was imported")
        FAILED = "failed", _("Failed")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    store = models.ForeignKey("loyalty.Store", on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("store"))
    credit_points = models.BooleanField(_("credit points"), default=False)
    filename = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64)
    content = models.BinaryField(editable=False)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows processed"), default=0)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True,
                              help_text=_("The first bad rows: line, field, code."))
    error_count = models.PositiveIntegerField(_("bad rows"), default=0)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+",
                                   verbose_name=_("by"))
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self):
        return f"{self.get_kind_display()}: {self.filename}"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.REJECTED, self.Status.FAILED}
