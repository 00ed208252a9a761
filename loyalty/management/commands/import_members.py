from loyalty.management.commands._imports import ImportCommand
from loyalty.services.imports.members import import_members


class Command(ImportCommand):
    help = ("Import members from another programme from a CSV: customer_ref,email,phone,"
            "first_name,last_name,birth_date (and optionally email_marketing,"
            "email_marketing_at,sms_marketing,sms_marketing_at,consent_source,"
            "opening_balance). Checks every row first: a file with any bad row, or a row "
            "matching two members, writes nothing. Importing it again changes nothing. "
            "Prints a JSON summary on its last line.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--store", help="The store whose external ids customer_ref are "
                                            "(default: the first active store).")

    def handle(self, *args, **options):
        self.run_import(
            import_members, path=options["file"], store=self.store(options["store"]),
            describe=lambda s: (
                f"{s['rows']} rows: {s['created']} members created, {s['updated']} updated, "
                f"{s['unchanged']} unchanged, {s['points_credited']} points credited."))
