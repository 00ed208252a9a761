from django.core.management.base import BaseCommand, CommandError

from loyalty.models import ApiKey
from loyalty.services.apikeys import create_api_key
from loyalty.services.errors import DomainError


class Command(BaseCommand):
    help = ("Create an API key for a store. Prints the key alone on the last line; "
            "it is stored hashed and cannot be shown again.")

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--store", required=True, help="The store code, e.g. web.")
        parser.add_argument("--scopes", nargs="+", choices=ApiKey.Scope.values,
                            help="Default: every scope.")

    def handle(self, *args, **options):
        try:
            api_key, secret = create_api_key(name=options["name"], store_code=options["store"],
                                             scopes=options["scopes"])
        except DomainError as error:
            raise CommandError(f"{error.message} {error.fields}") from None
        self.stderr.write(f"API key {api_key.name!r} for store {api_key.store.code}, "
                          f"scopes: {' '.join(api_key.scopes)}")
        self.stdout.write(secret)
