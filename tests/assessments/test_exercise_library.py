"""The exercise library as data: shape, doses per phase (PROTOCOLS.md section 6) and coverage."""

import re
from collections import Counter

import pytest

from assessments.programs import exercise_library
from assessments.programs.exercise_library import EXERCISES
from tests.admin_forms import admin_form_data

KEYS = {
    "slug",
    "name",
    "phase",
    "targets",
    "maintenance",
    "instructions",
    "cues",
    "sets",
    "reps",
    "hold_seconds",
    "per_side",
    "frequency",
    "cautions",
    "position",
}
PHASES = ("restore", "activate", "strengthen")
TARGETS = (
    "ankle_dorsiflexion",
    "hip_external_rotators",
    "hip_flexors",
    "glute_med",
    "adductors_quads",
)
FREQUENCIES = ("daily", "3_per_week")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# Words a client should not have to know; the names may keep a clinical word, the text may not.
JARGON = (
    "abduct",
    "adduct",
    "dorsiflex",
    "plantarflex",
    "rotator",
    "rotation",
    "glute",
    "valgus",
    "mvic",
    "soleus",
    "gastrocnemius",
    "tibialis",
    "quadricep",
    "hamstring",
    "flexor",
    "supine",
    "prone",
    "lateral",
    "medial",
    "anterior",
    "posterior",
    "isometric",
    "eccentric",
)

BY_SLUG = {exercise["slug"]: exercise for exercise in EXERCISES}
each_exercise = pytest.mark.parametrize(
    "exercise", EXERCISES, ids=[exercise["slug"] for exercise in EXERCISES]
)


def sentences(text: str) -> list[str]:
    return [part for part in re.split(r"(?<=[.!?])\s+", text.strip()) if part]


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def text_of(exercise: dict) -> str:
    return f"{exercise['slug']} {exercise['name']}".lower().replace("-", " ")


def matching(*words: str) -> list[dict]:
    return [e for e in EXERCISES if any(word in text_of(e) for word in words)]


def test_library_is_a_tuple_of_at_least_twenty_exercises():
    assert isinstance(EXERCISES, tuple)
    assert len(EXERCISES) >= 20
    assert all(isinstance(exercise, dict) for exercise in EXERCISES)


def test_slugs_are_unique():
    repeated = [slug for slug, n in Counter(e["slug"] for e in EXERCISES).items() if n > 1]
    assert repeated == []


def test_positions_are_unique_and_increase_through_the_tuple():
    positions = [exercise["position"] for exercise in EXERCISES]
    assert all(is_int(position) and position > 0 for position in positions)
    assert len(set(positions)) == len(positions)
    assert positions == sorted(positions)


@each_exercise
def test_exact_keys(exercise):
    assert set(exercise) == KEYS


@each_exercise
def test_values_are_allowed(exercise):
    assert SLUG.match(exercise["slug"])
    assert len(exercise["slug"]) <= 60
    assert isinstance(exercise["name"], str)
    assert 0 < len(exercise["name"]) <= 120
    assert exercise["name"] == exercise["name"].strip()
    assert exercise["phase"] in PHASES
    assert isinstance(exercise["targets"], list)
    assert exercise["targets"]
    assert set(exercise["targets"]) <= set(TARGETS)
    assert len(set(exercise["targets"])) == len(exercise["targets"])
    assert isinstance(exercise["maintenance"], bool)
    assert isinstance(exercise["per_side"], bool)
    assert exercise["frequency"] in FREQUENCIES
    assert is_int(exercise["sets"])
    assert 1 <= exercise["sets"] <= 10
    assert isinstance(exercise["cautions"], str)


@each_exercise
def test_exactly_one_of_reps_and_hold(exercise):
    reps, hold = exercise["reps"], exercise["hold_seconds"]
    assert (reps is None) != (hold is None)
    # The model's validators: reps 1-50, hold 5-300 s.
    if reps is not None:
        assert is_int(reps)
        assert 1 <= reps <= 50
    else:
        assert is_int(hold)
        assert 5 <= hold <= 300


@each_exercise
def test_dose_follows_the_phase(exercise):
    dose = (exercise["sets"], exercise["reps"], exercise["hold_seconds"], exercise["frequency"])
    if exercise["phase"] == "restore":
        # Stretches 3 x 30 s (ACSM 2-4 x 30 s); a mobility drill 2 x 10 per side; daily.
        assert dose in {(3, None, 30, "daily"), (2, 10, None, "daily")}
        if exercise["reps"] is not None:
            assert exercise["per_side"]
    elif exercise["phase"] == "activate":
        assert dose == (3, 15, None, "daily")  # 2-3 x 12-20, daily
    else:
        assert dose == (3, 10, None, "3_per_week")  # ACSM 3 x 8-12, 3 days a week


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("target", TARGETS)
def test_every_target_has_an_exercise_in_every_phase(target, phase):
    assert any(e["phase"] == phase and target in e["targets"] for e in EXERCISES)


def test_maintenance_program_is_small_and_mixes_the_phases():
    maintenance = [exercise for exercise in EXERCISES if exercise["maintenance"]]
    assert 4 <= len(maintenance) <= 6
    assert {exercise["phase"] for exercise in maintenance} == set(PHASES)


def test_side_lying_hip_abduction_comes_before_clamshell():
    # About 81% vs 40% of a maximal contraction of gluteus medius (Distefano 2009).
    abduction = BY_SLUG["side-lying-hip-abduction"]
    clamshells = [e for e in EXERCISES if "clamshell" in e["slug"]]
    assert abduction["phase"] == BY_SLUG["clamshell"]["phase"] == "activate"
    assert "glute_med" in abduction["targets"]
    assert "glute_med" in BY_SLUG["clamshell"]["targets"]
    assert all(abduction["position"] < clamshell["position"] for clamshell in clamshells)
    first_glute_med_activation = min(
        (e for e in EXERCISES if e["phase"] == "activate" and "glute_med" in e["targets"]),
        key=lambda e: e["position"],
    )
    assert first_glute_med_activation is abduction


@pytest.mark.parametrize(
    ("words", "phase", "target"),
    [
        (("calf",), "restore", "ankle_dorsiflexion"),
        (("soleus",), "restore", "ankle_dorsiflexion"),
        (("ankle",), "restore", "ankle_dorsiflexion"),
        (("hip flexor",), "restore", "hip_flexors"),
        (("figure 4", "external rotator"), "restore", "hip_external_rotators"),
        (("90/90", "90 90"), "restore", "hip_external_rotators"),
        (("adductor",), "restore", "adductors_quads"),
        (("quad",), "restore", "adductors_quads"),
        (("side lying hip abduction",), "activate", "glute_med"),
        (("clamshell",), "activate", "glute_med"),
        (("bridge",), None, "glute_med"),
        (("lunge",), "strengthen", "glute_med"),
    ],
)
def test_required_coverage(words, phase, target):
    found = [
        e
        for e in matching(*words)
        if (phase is None or e["phase"] == phase) and target in e["targets"]
    ]
    assert found, f"no {phase or 'any'}-phase exercise for {target} named {words}"


def test_lunges_carry_the_method_cues():
    lunges = [e for e in EXERCISES if "lunge" in text_of(e)]
    assert lunges
    mid_foot = re.compile(r"knee over the middle of the foot|knee over mid-?foot", re.IGNORECASE)
    front_lunges = [e for e in lunges if e["slug"] in {"reverse-lunge", "forward-lunge"}]
    assert front_lunges
    for lunge in front_lunges:
        assert any(mid_foot.search(cue) for cue in lunge["cues"]), lunge["slug"]
    assert any(
        "screw your hips into the ground" in cue.lower() for e in lunges for cue in e["cues"]
    )


@each_exercise
def test_cues(exercise):
    cues = exercise["cues"]
    assert isinstance(cues, list)
    assert 2 <= len(cues) <= 3
    for cue in cues:
        assert isinstance(cue, str)
        assert 0 < len(cue) <= 60
        assert cue == cue.strip()
    assert len(set(cues)) == len(cues)


@each_exercise
def test_instructions_are_short_plain_and_for_the_client(exercise):
    text = exercise["instructions"]
    assert isinstance(text, str)
    parts = sentences(text)
    assert 2 <= len(parts) <= 4
    assert all(len(part.split()) <= 35 for part in parts)
    assert re.search(r"\byou(r)?\b", text, re.IGNORECASE)  # second person
    assert re.search(r"\byou should feel\b", text, re.IGNORECASE)  # what they should feel


@each_exercise
def test_cautions_are_at_most_two_sentences(exercise):
    if exercise["cautions"]:
        assert 1 <= len(sentences(exercise["cautions"])) <= 2


@each_exercise
def test_client_text_has_no_jargon(exercise):
    text = " ".join([exercise["instructions"], exercise["cautions"], *exercise["cues"]]).lower()
    assert [word for word in JARGON if word in text] == []


def test_docstring_says_where_the_doses_come_from():
    doc = exercise_library.__doc__ or ""
    assert "PROTOCOLS.md" in doc
    assert "section 6" in doc
    assert "ACSM" in doc
    assert "Distefano" in doc
    assert "81%" in doc
    assert "40%" in doc


# --- The data migration loads the library ------------------------------------------------------

# A slug (or a word in it) for each kind of exercise the issue asks the library to have.
REQUIRED_KINDS = {
    "calf stretch": "wall-calf-stretch",
    "soleus stretch": "bent-knee-soleus-stretch",
    "ankle mobility": "knee-to-wall-ankle-rocks",
    "hip flexor stretch": "half-kneeling-hip-flexor-stretch",
    "external rotator mobility": "supine-figure-4-stretch",
    "90/90 mobility": "90-90-hip-switches",
    "adductor mobility": "adductor-rock-back",
    "quad mobility": "side-lying-quad-stretch",
    "side-lying hip abduction": "side-lying-hip-abduction",
    "clamshell": "clamshell",
    "glute bridge": "glute-bridge",
    "reverse lunge": "reverse-lunge",
    "forward lunge": "forward-lunge",
}


@pytest.mark.django_db
def test_the_data_migration_loads_the_library_into_an_empty_table():
    """Run migration 0002's own function with the models as they were after it, on an empty
    table (the ``library`` fixture loads the library by itself, so it proves nothing here)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from assessments.models import Exercise

    Exercise.objects.all().delete()
    loader = MigrationExecutor(connection).loader
    node = ("assessments", "0002_exercise_library")
    migration = loader.get_migration(*node)
    [operation] = migration.operations
    state = loader.project_state(node, at_end=True)
    with connection.schema_editor(atomic=False) as schema_editor:
        operation.code(state.apps, schema_editor)

    rows = {exercise.slug: exercise for exercise in Exercise.objects.all()}
    assert len(rows) >= 20
    assert len(rows) == len(EXERCISES)
    missing = {kind: slug for kind, slug in REQUIRED_KINDS.items() if slug not in rows}
    assert missing == {}
    for kind in ("reverse lunge", "forward lunge"):
        lunge = rows[REQUIRED_KINDS[kind]]
        assert "Knee over the middle of the foot" in lunge.cues, kind
    assert rows["side-lying-hip-abduction"].targets == ["glute_med"]
    for exercise in rows.values():
        assert exercise.instructions
        assert exercise.cues
        assert exercise.targets
        assert exercise.sets >= 1
        assert (exercise.reps is None) != (exercise.hold_seconds is None)
    # Loading again (the migration re-run, or a later data migration) creates nothing new.
    with connection.schema_editor(atomic=False) as schema_editor:
        operation.code(state.apps, schema_editor)
    assert Exercise.objects.count() == len(rows)


# --- Editing the library in the admin ------------------------------------------------------------


def _exercise_form(**changes) -> dict:
    data = {
        "slug": "single-leg-balance",
        "name": "Single-leg balance",
        "phase": "activate",
        "targets": ["glute_med"],
        "instructions": "Stand on one leg. You should feel the side of your hip working.",
        "cues": "Keep your hips level\r\n\r\n  Knee over the middle of the foot  \r\n",
        "sets": "3",
        "reps": "",
        "hold_seconds": "30",
        "per_side": "on",
        "frequency": "daily",
        "cautions": "",
        "position": "300",
        "is_active": "on",
    }
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_clinic_admin_adds_an_exercise_with_one_cue_per_line(as_admin, library):
    from django.urls import reverse

    from assessments.models import Exercise

    add = reverse("admin:assessments_exercise_add")
    page = as_admin.get(add).content.decode()
    assert "One cue per line" in page
    # Targets are checkboxes of the known body areas, with their names.
    assert 'value="ankle_dorsiflexion"' in page
    assert "Gluteus medius (knee and pelvis control)" in page
    response = as_admin.post(add, _exercise_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    exercise = Exercise.objects.get(slug="single-leg-balance")
    assert exercise.cues == ["Keep your hips level", "Knee over the middle of the foot"]
    assert exercise.targets == ["glute_med"]
    # The change page shows the cues one per line again, and saves them back unchanged.
    change = reverse("admin:assessments_exercise_change", args=[exercise.pk])
    html = as_admin.get(change).content.decode()
    assert ">\nKeep your hips level\nKnee over the middle of the foot</textarea>" in html
    data = admin_form_data(as_admin, change, targets=["glute_med", "hip_external_rotators"])
    assert as_admin.post(change, data).status_code == 302
    exercise.refresh_from_db()
    assert exercise.cues == ["Keep your hips level", "Knee over the middle of the foot"]
    assert exercise.targets == ["glute_med", "hip_external_rotators"]


@pytest.mark.django_db
def test_the_admin_refuses_an_unknown_target_and_says_which(as_admin, library):
    from django.urls import reverse

    from assessments.models import Exercise

    add = reverse("admin:assessments_exercise_add")
    response = as_admin.post(add, _exercise_form(targets=["glute_med", "not_a_target"]))
    assert response.status_code == 200
    assert "not_a_target is not one of the available choices" in response.content.decode()
    response = as_admin.post(add, _exercise_form(targets=[]))
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Exercise.objects.filter(slug="single-leg-balance").exists()
    # A change that would leave an exercise the planner can never pick is refused too.
    exercise = Exercise.objects.get(slug="clamshell")
    change = reverse("admin:assessments_exercise_change", args=[exercise.pk])
    data = admin_form_data(as_admin, change, targets=["not_a_target"])
    assert as_admin.post(change, data).status_code == 200
    exercise.refresh_from_db()
    assert exercise.targets == ["glute_med", "hip_external_rotators"]


@pytest.mark.django_db
def test_the_model_refuses_unknown_targets_and_blank_cues(library):
    from django.core.exceptions import ValidationError

    from assessments.models import Exercise

    exercise = Exercise.objects.get(slug="clamshell")
    exercise.targets = ["not_a_target"]
    with pytest.raises(ValidationError, match="Unknown target: not_a_target"):
        exercise.full_clean()
    exercise.targets = ["glute_med"]
    exercise.cues = ["", "Keep your feet together"]
    with pytest.raises(ValidationError, match="one per line"):
        exercise.full_clean()


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["as_clinician", "as_client", "as_stranger"])
def test_nobody_but_a_clinic_admin_edits_the_library(request, persona, library):
    from django.urls import reverse

    from assessments.models import Exercise

    http = request.getfixturevalue(persona)
    exercise = Exercise.objects.get(slug="clamshell")
    add = reverse("admin:assessments_exercise_add")
    change = reverse("admin:assessments_exercise_change", args=[exercise.pk])
    for page in (add, change):
        response = http.get(page)
        if persona == "as_stranger":
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("admin:login"))
        else:
            # Signed in: told the admin is not theirs, not sent to sign in again.
            assert response.status_code == 403
    http.post(add, _exercise_form())
    http.post(change, _exercise_form(slug="clamshell", name="Changed"))
    assert not Exercise.objects.filter(slug="single-leg-balance").exists()
    exercise.refresh_from_db()
    assert exercise.name == "Clamshell"
