import datetime as dt

from django.db import migrations

TELEHEALTH = """\
What a video consultation is. Your clinician assesses you and advises you over a live video call. \
They cannot touch or examine you in person, so some tests are done differently or not at all, and \
your clinician may advise an in-person visit.

What you need. A private, well-lit space with room to lie down and to take a few steps, a device \
with a camera and microphone, and a stable internet connection. Wear clothes that show your knees \
and hips. Have a chair and a wall nearby.

Safety. Only do the movements you feel safe doing, and stop if pain rises sharply. A video \
consultation is not for emergencies: for sudden severe pain, a hot swollen joint with fever, or \
an injury you cannot put weight on, seek urgent in-person care.

Privacy. The call runs directly between your browser and your clinician's. It is not recorded. \
Your clinician records test results and notes in your confidential record, which only the \
clinic's clinicians can see. Every time someone opens or changes your record, this is logged.

Your choice. You may stop the consultation at any time and ask for an in-person appointment \
instead. You can withdraw this consent for future sessions by contacting the clinic."""

IMAGES = """\
During movement tests your clinician may take still images of your video to compare left and \
right sides and to track your progress. They are stored in your confidential record and never \
shared or published. You can book and take part without agreeing to this; without it, your \
clinician only records numbers and notes."""


def publish(apps, schema_editor):
    ConsentDocument = apps.get_model("clinic", "ConsentDocument")
    published = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ConsentDocument.objects.get_or_create(
        kind="telehealth",
        version="2026-01",
        defaults={
            "title": "Consent to telehealth consultation",
            "body": TELEHEALTH,
            "published_at": published,
        },
    )
    ConsentDocument.objects.get_or_create(
        kind="images",
        version="2026-01",
        defaults={
            "title": "Consent to still images of movement tests",
            "body": IMAGES,
            "published_at": published,
        },
    )


class Migration(migrations.Migration):
    dependencies = [("clinic", "0002_audit_append_only")]

    operations = [migrations.RunPython(publish, migrations.RunPython.noop)]
