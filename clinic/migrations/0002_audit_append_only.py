from django.db import migrations

from telehealth.migration_ops import RunSQLOnPostgres


class Migration(migrations.Migration):
    """The audit log is append only, even for code that bypasses the ORM."""

    dependencies = [("clinic", "0001_initial")]

    operations = [
        RunSQLOnPostgres(
            sql="""
                CREATE FUNCTION clinic_audit_event_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION 'the audit log is append only';
                END;
                $$ LANGUAGE plpgsql;

                CREATE TRIGGER clinic_audit_event_append_only
                BEFORE UPDATE OR DELETE ON clinic_auditevent
                FOR EACH ROW EXECUTE FUNCTION clinic_audit_event_append_only();
            """,
            reverse_sql="""
                DROP TRIGGER clinic_audit_event_append_only ON clinic_auditevent;
                DROP FUNCTION clinic_audit_event_append_only();
            """,
        ),
    ]
