"""Loads the exercise library (assessments/programs/exercise_library.py) into the database.

Admins edit the library in the admin afterwards. A later change to exercise_library.py needs a
new data migration that calls ``load`` again: this one has already run on existing databases.
"""

from django.db import migrations


def load(apps, schema_editor):
    from assessments.programs.exercise_library import exercises_load

    exercises_load(apps.get_model("assessments", "Exercise"))


def unload(apps, schema_editor):
    from assessments.programs.exercise_library import EXERCISES

    Exercise = apps.get_model("assessments", "Exercise")
    Exercise.objects.filter(slug__in=[data["slug"] for data in EXERCISES]).delete()


class Migration(migrations.Migration):
    dependencies = [("assessments", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
