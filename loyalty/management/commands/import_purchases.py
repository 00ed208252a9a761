from loyalty.management.commands._imports import ImportCommand
from loyalty.services.imports.purchases import import_purchases


class Command(ImportCommand):
    help = ("Import a store's purchase history from a CSV: customer_ref,order_id,occurred_at,"
            "amount (and optionally email,first_name,last_name,sku,category,quantity). "
            "Checks every row first: a file with any bad row writes nothing. Importing it "
            "again adds nothing. Prints a JSON summary on its last line.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--store", required=True, help="The store code, e.g. paris.")
        parser.add_argument("--credit-points", action="store_true",
                            help="Credit the points each purchase earns, through the ledger "
                                 "(much slower). Without it, history earns no points.")

    def handle(self, *args, **options):
        self.run_import(
            import_purchases, path=options["file"], store=self.store(options["store"]),
            credit_points=options["credit_points"],
            describe=lambda s: (
                f"{s['rows']} rows: {s['purchases_added']} purchases added, "
                f"{s['already_present']} already present, {s['members_created']} members "
                f"created, {s['points_credited']} points credited."))
