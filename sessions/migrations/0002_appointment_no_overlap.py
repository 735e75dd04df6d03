from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations

from telehealth.migration_ops import RunSQLOnPostgres


class Migration(migrations.Migration):
    """No two live appointments of one clinician may overlap, buffers included.

    The constraint is what makes double booking impossible under concurrent requests; the
    booking service turns its violation into "this time was just taken".
    """

    dependencies = [("virtual_sessions", "0001_initial")]

    operations = [
        BtreeGistExtension(),
        RunSQLOnPostgres(
            sql="""
                ALTER TABLE virtual_sessions_appointment
                ADD CONSTRAINT appointment_no_overlap
                EXCLUDE USING gist (
                    clinician_id WITH =,
                    tstzrange(blocked_from, blocked_until, '[)') WITH &&
                ) WHERE (status <> 'cancelled')
            """,
            reverse_sql="""
                ALTER TABLE virtual_sessions_appointment DROP CONSTRAINT appointment_no_overlap
            """,
        ),
    ]
