"""The till: who recorded a purchase, and the search of members by name.

On PostgreSQL the name search folds accents with the `unaccent` extension and
ranks with `pg_trgm`: both extensions are created when missing (this needs a role
allowed to create them, as the other migrations' owner is), `loyalty_unaccent` is
an IMMUTABLE wrapper of unaccent (which an index may use), and a GIN trigram index
covers the folded full name. Elsewhere (SQLite) the app registers a function of
the same name on each connection (loyalty/names.py) and nothing is created here.
"""

import django.db.models.deletion
from django.conf import settings
from django.contrib.postgres.operations import TrigramExtension, UnaccentExtension
from django.db import migrations, models

FUNCTION = """
CREATE OR REPLACE FUNCTION loyalty_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT unaccent('unaccent'::regdictionary, $1) $$
"""
INDEX = """
CREATE INDEX IF NOT EXISTS member_name_trgm ON loyalty_member
USING gin (loyalty_unaccent(lower(first_name || ' ' || last_name)) gin_trgm_ops)
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION)
        schema_editor.execute(INDEX)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS member_name_trgm")
        schema_editor.execute("DROP FUNCTION IF EXISTS loyalty_unaccent(text)")


class Migration(migrations.Migration):

    dependencies = [
        ("loyalty", "0012_settings_that_cannot_mislead"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="purchase",
            name="cashier",
            field=models.ForeignKey(blank=True, null=True,
                                    on_delete=django.db.models.deletion.SET_NULL,
                                    related_name="+", to=settings.AUTH_USER_MODEL,
                                    verbose_name="cashier"),
        ),
        UnaccentExtension(),
        TrigramExtension(),
        migrations.RunPython(forwards, backwards),
    ]
