"""What the two import commands share: the file, the progress bar, the report."""

from __future__ import annotations

import json
import os

from django.core.management.base import BaseCommand, CommandError

from loyalty.models import Store
from loyalty.services.errors import DomainError
from loyalty.services.imports import ImportRejected, TerminalProgress


class ImportCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument("file", help="The CSV file (UTF-8, with a header row).")

    def store(self, code: str | None) -> Store:
        if code:
            store = Store.objects.filter(code=code).first()
            if store is None:
                raise CommandError(f"No store with the code {code!r}.")
            return store
        store = Store.objects.filter(active=True).order_by("pk").first()
        if store is None:
            raise CommandError("There is no active store: create one first.")
        return store

    def run_import(self, service, *, path: str, describe, **kwargs) -> None:
        """Run the import with a progress bar on a terminal; report; the JSON summary last."""
        if not os.path.isfile(path):
            raise CommandError(f"No such file: {path}")
        progress = TerminalProgress(self.stderr._out)
        try:
            summary = service(source=path, progress=progress, **kwargs)
        except ImportRejected as rejected:
            for line in rejected.report_lines():
                self.stderr.write(line)
            raise CommandError(
                f"The file was rejected ({rejected.error_count} errors): nothing was "
                "imported.") from None
        except DomainError as error:
            raise CommandError(f"{error.message} {error.fields or ''}".strip()) from None
        self.stdout.write(describe(summary))
        self.stdout.write(json.dumps(summary))
