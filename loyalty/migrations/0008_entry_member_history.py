"""An index for a member's history, newest first: (member, -created_at, -id).

The transactions API orders a member's entries by `-created_at, -id`; without an
index in that order PostgreSQL read (and sorted) the member's whole history for a
page of 20. Built CONCURRENTLY on PostgreSQL (the ledger is large and written all day:
a plain CREATE INDEX would block purchases while it builds), hence a non-atomic migration.
"""

from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """AddIndex, built without blocking writes on PostgreSQL (plainly elsewhere)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("loyalty", "0007_webhook_outbox")]
    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="pointsentry",
            index=models.Index(fields=["member", "-created_at", "-id"],
                               name="entry_member_history"),
        ),
    ]
