"""Migration operations that only apply to PostgreSQL.

Some rules are enforced by PostgreSQL features SQLite does not have (exclusion constraints,
triggers). They are kept out of the model state so that SQLite, used by the quick start,
never sees them; the application enforces the same rules there by other means.
"""

from django.db import migrations


class RunSQLOnPostgres(migrations.RunSQL):
    def database_forwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):  # type: ignore[no-untyped-def]
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
