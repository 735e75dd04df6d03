"""The clinic's exercise library, as plain data for a data migration to load into ``Exercise``.

Where the doses come from (../shared/PROTOCOLS.md, section 6, "From findings to a phased home
program"): every exercise carries the default dose of its phase, which the clinician can change
per plan item.

- Restore (weeks 1-2, mobility and release): stretches 3 x 30 s hold, daily — the middle of
  ACSM's 2-4 x 30 s. Mobility drills in this phase (ankle rocks, 90/90 switches, adductor
  rock-backs) are moved through rather than held: 2 x 10 per side, daily (our own choice).
- Activate (weeks 3-4, gluteus medius and deep rotators): 3 x 15 reps, daily, inside the
  protocol's 2-3 x 12-20.
- Strengthen (weeks 5-8, strength and movement pattern): 3 x 10 reps, 3 days a week, inside
  ACSM's 3 x 8-12.

The order restore → activate → strengthen follows the method ("you cannot strengthen an
inhibited muscle") and the trials cited there (Dolak 2011, JOSPT; Ferber 2015).

``position`` increases through the tuple; within each (target, phase) the planner takes the
lowest positions first, so the most specific, best-supported exercise of each comes first and
the planner's limit of 4 exercises a phase (adherence, Bachmann 2018) keeps the best ones.
Side-lying hip abduction comes before the clamshell: it activates gluteus medius at about 81%
of a maximal voluntary isometric contraction (MVIC) against about 40% for the clamshell
(Distefano et al. 2009, JOSPT 39:532). Glute bridges follow, then lunges with the method's cues
("knee over the middle of the foot", "screw your hips into the ground"); the reverse lunge comes
before the forward lunge because stepping back usually loads the front of the knee less.

Overactive adductors are answered in the restore phase by adductor rock-backs (they also serve
the gluteus medius target, since tight adductors pull the knee inward) and in the activate phase
by standing band hip abduction, which works the muscles that oppose them.

``maintenance`` marks the five exercises proposed when an assessment finds nothing: a calf and a
hip flexor stretch, two activation exercises (side-lying hip abduction, glute bridge) and the
reverse lunge.

Values are plain strings so a migration can import this module without the app registry:
``targets`` are the values of ``assessments.findings.Target``, ``phase`` and ``frequency``
those of ``assessments.models.program.PhaseKind`` and ``Frequency``. Instructions, cues and
cautions are written for the client to read at home.
"""

EXERCISES: tuple[dict, ...] = (
    # ---------------------------------------------------------------- restore: 3 x 30 s, daily
    {
        "slug": "wall-calf-stretch",
        "name": "Wall calf stretch",
        "phase": "restore",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": True,
        "instructions": (
            "Stand facing a wall with your hands on it and one foot a big step behind the other. "
            "Keep the back leg straight and its heel on the floor, then bend your front knee and "
            "lean toward the wall. You should feel a stretch in the calf of the back leg."
        ),
        "cues": ["Keep the back heel down", "Back foot points straight ahead"],
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "per_side": True,
        "frequency": "daily",
        "cautions": "Stretch to a mild pull, never to pain. Stop if you feel pain in the heel.",
        "position": 10,
    },
    {
        "slug": "bent-knee-soleus-stretch",
        "name": "Bent-knee wall calf stretch",
        "phase": "restore",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": False,
        "instructions": (
            "Stand facing a wall with your hands on it and one foot half a step behind the other. "
            "Keep both heels down and bend both knees, letting the back knee sink toward the "
            "floor. You should feel a stretch low in the back calf, just above the heel."
        ),
        "cues": ["Keep the back heel down", "Bend the back knee", "Back knee over the second toe"],
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "per_side": True,
        "frequency": "daily",
        "cautions": "Stretch to a mild pull, never to pain. Stop if you feel pain in the heel.",
        "position": 20,
    },
    {
        "slug": "knee-to-wall-ankle-rocks",
        "name": "Knee-to-wall ankle rocks",
        "phase": "restore",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": False,
        "instructions": (
            "Stand facing a wall with one foot about a hand's width from it and the other foot "
            "behind. Keeping the front heel down, slowly push that knee forward to touch the wall "
            "over your middle toes, then ease back. You should feel the ankle bending and a "
            "stretch in the calf."
        ),
        "cues": ["Keep the heel down", "Knee goes over the middle toes"],
        "sets": 2,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "daily",
        "cautions": (
            "Go only as far as you can without the heel lifting or the knee rolling inward. "
            "A pinch at the front of the ankle means you have gone far enough."
        ),
        "position": 30,
    },
    {
        "slug": "seated-toe-and-arch-stretch",
        "name": "Seated toe and arch stretch",
        "phase": "restore",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": False,
        "instructions": (
            "Sit on a chair and rest one ankle on your other knee. Hold your toes and gently pull "
            "them back toward your shin. You should feel a stretch along the arch of your foot."
        ),
        "cues": ["Pull the toes back gently", "Keep the ankle relaxed"],
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "per_side": True,
        "frequency": "daily",
        "cautions": "Stop if you feel sharp pain in the heel or the arch.",
        "position": 40,
    },
    {
        "slug": "half-kneeling-hip-flexor-stretch",
        "name": "Kneeling hip flexor stretch",
        "phase": "restore",
        "targets": ["hip_flexors"],
        "maintenance": True,
        "instructions": (
            "Kneel on one knee on a cushion with the other foot flat on the floor in front of you. "
            "Tuck your tailbone under, squeeze the buttock of the kneeling leg and shift your body "
            "slightly forward. You should feel a stretch at the front of the hip of the kneeling "
            "leg."
        ),
        "cues": ["Tuck your tailbone under", "Squeeze the back buttock", "Stay tall, don't arch"],
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "per_side": True,
        "frequency": "daily",
        "cautions": (
            "Put padding under the kneeling knee. Stop if you feel pain in that knee or your lower "
            "back."
        ),
        "position": 50,
    },
    {
        "slug": "supine-figure-4-stretch",
        "name": "Lying figure-4 stretch",
        "phase": "restore",
        "targets": ["hip_external_rotators"],
        "maintenance": False,
        "instructions": (
            "Lie on your back with both knees bent and your feet flat. Cross one ankle over the "
            "other knee, then hold behind the lower thigh and draw it gently toward your chest. "
            "You should feel a stretch deep in the buttock of the crossed leg."
        ),
        "cues": ["Let the crossed knee open outward", "Keep your head and shoulders relaxed"],
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "per_side": True,
        "frequency": "daily",
        "cautions": "Stop if you feel pain in the groin or in the knee of the crossed leg.",
        "position": 60,
    },
    {
        "slug": "90-90-hip-switches",
        "name": "90/90 hip switches",
        "phase": "restore",
        "targets": ["hip_external_rotators"],
        "maintenance": False,
        "instructions": (
            "Sit on the floor with your hands behind you, your feet wide apart and your knees "
            "bent. Slowly let both knees fall to one side, then lift them back through the middle "
            "and lower them to the other side. You should feel your hips turning and a gentle "
            "stretch around the hips and buttocks."
        ),
        "cues": ["Move slowly, no bouncing", "Sit tall as the knees turn"],
        "sets": 2,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "daily",
        "cautions": (
            "Move only within a comfortable range. Stop if you feel a pinch in the groin or pain "
            "in the knee."
        ),
        "position": 70,
    },
    {
        "slug": "adductor-rock-back",
        "name": "Inner-thigh rock-back",
        "phase": "restore",
        "targets": ["adductors_quads", "glute_med"],
        "maintenance": False,
        "instructions": (
            "Start on your hands and knees, then straighten one leg out to the side with that foot "
            "flat on the floor. Keeping your back flat, slowly rock your hips back toward your "
            "heels and then forward again. You should feel a stretch along the inside of the "
            "straight leg's thigh."
        ),
        "cues": ["Keep your back flat", "Keep the straight leg's foot flat"],
        "sets": 2,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "daily",
        "cautions": (
            "Rock back only as far as your back stays flat. Stop if you feel pain in the groin or "
            "the knee."
        ),
        "position": 80,
    },
    {
        "slug": "side-lying-quad-stretch",
        "name": "Side-lying quad stretch",
        "phase": "restore",
        "targets": ["adductors_quads"],
        "maintenance": False,
        "instructions": (
            "Lie on your side with your bottom knee bent in front of you for balance. Hold the "
            "ankle of your top leg and gently draw the heel toward your buttock, keeping your "
            "knees level. You should feel a stretch along the front of the top thigh."
        ),
        "cues": ["Keep your knees level", "Tuck your tailbone under"],
        "sets": 3,
        "reps": None,
        "hold_seconds": 30,
        "per_side": True,
        "frequency": "daily",
        "cautions": (
            "If you cannot reach your ankle, loop a towel around it. Stop if you feel pain in the "
            "knee."
        ),
        "position": 90,
    },
    # ---------------------------------------------------------------- activate: 3 x 15, daily
    {
        "slug": "slow-heel-raise",
        "name": "Slow heel raise",
        "phase": "activate",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": False,
        "instructions": (
            "Stand with your feet hip-width apart, holding a wall or chair for balance. Rise "
            "slowly onto the balls of your feet, then lower your heels all the way to the floor, "
            "taking about three seconds each way. You should feel your calves working while your "
            "ankles stay straight."
        ),
        "cues": ["Knees stay over the second toe", "Lower slowly all the way down"],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": False,
        "frequency": "daily",
        "cautions": "Stop if you feel pain in the heel, the Achilles tendon or the knee.",
        "position": 100,
    },
    {
        "slug": "tibialis-raise",
        "name": "Wall toe raise",
        "phase": "activate",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": False,
        "instructions": (
            "Stand with your back against a wall and your heels about a foot's length in front of "
            "it. Keeping your legs straight, lift your toes and the front of your feet toward your "
            "shins, then lower them slowly. You should feel the muscles at the front of your shins "
            "working."
        ),
        "cues": ["Keep your heels on the floor", "Lift the toes as high as you can"],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": False,
        "frequency": "daily",
        "cautions": "If the front of your shin cramps or hurts, stop and rest before trying again.",
        "position": 110,
    },
    {
        "slug": "side-lying-hip-abduction",
        "name": "Side-lying leg lift",
        "phase": "activate",
        "targets": ["glute_med"],
        "maintenance": True,
        "instructions": (
            "Lie on your side with your bottom knee bent and your top leg straight, in line with "
            "your body. With your toes pointing forward, lift the top leg toward the ceiling and "
            "slightly back, then lower it slowly. You should feel the side of your hip and "
            "buttock working."
        ),
        "cues": [
            "Toes point forward, not up",
            "Lead with the heel, leg slightly back",
            "Don't let your hips roll back",
        ],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "daily",
        "cautions": "Stop if you feel pain at the side of the hip or a pinch at the front of it.",
        "position": 120,
    },
    {
        "slug": "clamshell",
        "name": "Clamshell",
        "phase": "activate",
        "targets": ["glute_med", "hip_external_rotators"],
        "maintenance": False,
        "instructions": (
            "Lie on your side with your hips and knees bent and your feet together. Keeping your "
            "feet touching, lift your top knee as far as you can without your hips rolling back, "
            "then lower it slowly. You should feel the back and side of your hip working."
        ),
        "cues": ["Keep your feet together", "Don't let your top hip roll back"],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "daily",
        "cautions": "Stop if you feel pain in the hip or at the front of the thigh.",
        "position": 130,
    },
    {
        "slug": "standing-band-hip-abduction",
        "name": "Standing band side leg lift",
        "phase": "activate",
        "targets": ["adductors_quads", "glute_med"],
        "maintenance": False,
        "instructions": (
            "Stand tall next to a chair, holding it, with a light band looped around your ankles. "
            "Keeping your body upright and your toes pointing forward, move one leg out to the "
            "side, then bring it back slowly. You should feel the side of the hip working on both "
            "legs."
        ),
        "cues": ["Stand tall, don't lean", "Toes point forward", "Control the way back in"],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "daily",
        "cautions": (
            "Use a lighter band if you have to lean or swing the leg. Stop if you feel pain in "
            "the hip or the knee."
        ),
        "position": 140,
    },
    {
        "slug": "glute-bridge",
        "name": "Glute bridge",
        "phase": "activate",
        "targets": ["hip_flexors", "glute_med"],
        "maintenance": True,
        "instructions": (
            "Lie on your back with your knees bent and your feet flat, hip-width apart. Squeeze "
            "your buttocks and lift your hips until your body is straight from shoulders to "
            "knees, hold for two seconds, then lower slowly. You should feel your buttocks "
            "working and a gentle stretch at the front of your hips."
        ),
        "cues": [
            "Squeeze your buttocks before you lift",
            "Knees stay hip-width apart",
            "Don't arch your lower back",
        ],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": False,
        "frequency": "daily",
        "cautions": (
            "If you feel it mostly in your lower back or the backs of your thighs, bring your "
            "feet closer and lift less high. Stop if you feel pain in your back or knees."
        ),
        "position": 150,
    },
    {
        "slug": "seated-band-knee-press-out",
        "name": "Seated band knee press-out",
        "phase": "activate",
        "targets": ["hip_external_rotators", "glute_med"],
        "maintenance": False,
        "instructions": (
            "Sit on the edge of a chair with a light band just above your knees and your feet "
            "flat, hip-width apart. Keeping your feet still, press your knees apart against the "
            "band, hold for a second, then let them come back slowly. You should feel the back "
            "and sides of your hips working."
        ),
        "cues": ["Keep your feet flat and still", "Sit tall"],
        "sets": 3,
        "reps": 15,
        "hold_seconds": None,
        "per_side": False,
        "frequency": "daily",
        "cautions": (
            "Use a lighter band if your feet lift or roll. Stop if you feel pain in the hip or "
            "groin."
        ),
        "position": 160,
    },
    # -------------------------------------------------------- strengthen: 3 x 10, 3 days a week
    {
        "slug": "single-leg-heel-raise-on-step",
        "name": "Single-leg heel raise on a step",
        "phase": "strengthen",
        "targets": ["ankle_dorsiflexion"],
        "maintenance": False,
        "instructions": (
            "Stand on one foot with the ball of the foot on the edge of a step, holding a rail or "
            "wall. Rise up onto your toes, then lower slowly over three seconds until your heel "
            "drops just below the step. You should feel your calf working hard and stretching at "
            "the bottom."
        ),
        "cues": ["Knee stays over the second toe", "Three seconds down", "Keep your body tall"],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "Lower only as far as is comfortable. Stop if you feel pain in the Achilles tendon, "
            "the heel or the knee."
        ),
        "position": 170,
    },
    {
        "slug": "single-leg-glute-bridge",
        "name": "Single-leg glute bridge",
        "phase": "strengthen",
        "targets": ["glute_med"],
        "maintenance": False,
        "instructions": (
            "Lie on your back with your knees bent and feet flat, then straighten one leg in line "
            "with the other thigh. Push through the heel of the bent leg to lift your hips until "
            "your body is straight from shoulders to knee, then lower slowly. You should feel the "
            "buttock of the working leg doing the work."
        ),
        "cues": ["Keep your hips level", "Knee stays over the foot", "Push through the heel"],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "If one side of your hips drops, go back to the two-leg bridge. Stop if you feel pain "
            "in your lower back or knee."
        ),
        "position": 180,
    },
    {
        "slug": "reverse-lunge",
        "name": "Reverse lunge",
        "phase": "strengthen",
        "targets": ["hip_flexors", "glute_med"],
        "maintenance": True,
        "instructions": (
            "Stand tall with your feet hip-width apart, next to a chair if you need balance. Step "
            "one foot back and bend both knees to lower straight down, keeping the front knee "
            "over the middle of the front foot, then push through the front heel to stand up. "
            "You should feel the front buttock and thigh working and a stretch at the front of "
            "the back hip."
        ),
        "cues": [
            "Knee over the middle of the foot",
            "Screw your hips into the ground",
            "Tuck your tailbone under",
        ],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "Go only as low as you can without knee pain. If the front knee drifts inward, take "
            "a shorter step and a shallower lunge."
        ),
        "position": 190,
    },
    {
        "slug": "side-lunge",
        "name": "Side lunge",
        "phase": "strengthen",
        "targets": ["adductors_quads"],
        "maintenance": False,
        "instructions": (
            "Stand with your feet wide apart and your toes pointing forward. Bend one knee and sit "
            "your hips back over that foot while the other leg stays straight, then push back up "
            "to the middle. You should feel the bent leg's buttock and thigh working and a stretch "
            "along the inside of the straight leg."
        ),
        "cues": ["Knee over the middle of the foot", "Sit the hips back", "Keep both feet flat"],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "Start with a small step and a shallow bend. Stop if you feel pain in the groin or "
            "the knee."
        ),
        "position": 200,
    },
    {
        "slug": "forward-lunge",
        "name": "Forward lunge",
        "phase": "strengthen",
        "targets": ["glute_med", "ankle_dorsiflexion", "adductors_quads"],
        "maintenance": False,
        "instructions": (
            "Stand tall with your feet hip-width apart. Step forward and bend both knees, letting "
            "the front knee travel forward over the middle of the foot with the heel down, then "
            "push back to the start. You should feel the front buttock and thigh working and the "
            "front ankle bending."
        ),
        "cues": [
            "Knee over the middle of the foot",
            "Screw your hips into the ground",
            "Keep the front heel down",
        ],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "If stepping forward hurts your knee, do the reverse lunge instead. Stop if you feel "
            "pain at the front of the knee."
        ),
        "position": 210,
    },
    {
        "slug": "forward-step-down",
        "name": "Forward step-down",
        "phase": "strengthen",
        "targets": ["glute_med", "adductors_quads"],
        "maintenance": False,
        "instructions": (
            "Stand on one leg on a low step, holding a rail or wall if you need to. Slowly bend "
            "the standing knee to lower the other heel toward the floor in front, keeping the knee "
            "over the middle of your foot, then straighten back up. You should feel the buttock "
            "and front of the thigh of the standing leg working."
        ),
        "cues": [
            "Knee over the middle of the foot",
            "Keep your hips level",
            "Take three seconds to lower",
        ],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "Start on a very low step and touch the heel down lightly. Stop if you feel pain at "
            "the front of the knee."
        ),
        "position": 220,
    },
    {
        "slug": "side-plank-clamshell",
        "name": "Side plank with clamshell",
        "phase": "strengthen",
        "targets": ["hip_external_rotators", "glute_med"],
        "maintenance": False,
        "instructions": (
            "Lie on your side propped on your forearm, elbow under your shoulder, knees bent and "
            "stacked. Lift your hips so your body is straight from head to knees, then open and "
            "close your top knee slowly while you keep your hips up. You should feel the side and "
            "back of both hips working."
        ),
        "cues": [
            "Elbow under your shoulder",
            "Keep your hips lifted and forward",
            "Feet stay together",
        ],
        "sets": 3,
        "reps": 10,
        "hold_seconds": None,
        "per_side": True,
        "frequency": "3_per_week",
        "cautions": (
            "If your shoulder hurts or your hips sag, do the clamshell on the floor instead. Stop "
            "if you feel pain in the hip."
        ),
        "position": 230,
    },
)


def exercises_load(exercise_model: type) -> int:
    """Create or update the library's exercises (by slug); returns how many there are.

    Takes the model class so that a data migration can pass its historical model.
    """
    for data in EXERCISES:
        exercise_model.objects.update_or_create(slug=data["slug"], defaults=dict(data))
    return len(EXERCISES)
