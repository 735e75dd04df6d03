"""Angles from pose landmarks, checked on synthetic poses whose angles are known exactly."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assessments.pose.geometry import (
    LEFT_ANKLE,
    LEFT_HIP,
    LEFT_KNEE,
    MIN_VISIBILITY,
    RIGHT_ANKLE,
    RIGHT_HIP,
    RIGHT_KNEE,
    DegeneratePoseError,
    Point,
    Point3,
    confidence,
    fppa_deg,
    is_usable,
    knee_flexion_3d_deg,
    knee_flexion_deg,
    landmarks_for,
    other_side,
    pelvic_drop,
    slr_angle_deg,
)
from tests.assessments.synthetic_poses import world_leg

# The project's autouse fixtures (cache, mail) are function-scoped; these tests don't use them.
property_test = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

HIP_WIDTH = 0.16  # frame heights between the hip landmarks of an adult at a usual distance


def _leg(
    hip: tuple[float, float],
    *,
    medial: int,
    thigh_deg: float,
    fppa: float,
    thigh: float = 0.22,
    shank: float = 0.21,
) -> tuple[Point, Point, Point]:
    """Hip, knee and ankle of a leg hanging down (y down) with an exact FPPA.

    ``medial`` is +1 when the medial side is +x in the frame, -1 when it is -x. The thigh leaves
    the hip ``thigh_deg`` off vertical towards medial; the shank is turned back by ``fppa``
    towards lateral, so the angle between thigh and shank is exactly |fppa| and the knee lies
    medial to the hip-ankle line when fppa > 0.
    """
    a = math.radians(thigh_deg)
    b = math.radians(thigh_deg - fppa)
    knee = (hip[0] + medial * thigh * math.sin(a), hip[1] + thigh * math.cos(a))
    ankle = (knee[0] + medial * shank * math.sin(b), knee[1] + shank * math.cos(b))
    return Point(*hip), Point(*knee), Point(*ankle)


def _front_view_pose(*, left_fppa: float, right_fppa: float) -> dict[int, Point]:
    """A person facing the camera: their right side is on the left of the frame."""
    right = _leg((0.42, 0.5), medial=+1, thigh_deg=4.0, fppa=right_fppa)
    left = _leg((0.42 + HIP_WIDTH, 0.5), medial=-1, thigh_deg=4.0, fppa=left_fppa)
    return dict(zip((RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE), right, strict=True)) | dict(
        zip((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), left, strict=True)
    )


def _fppa_of(pose: dict[int, Point], side: str, *, aspect: float = 1.0) -> float:
    leg = landmarks_for(side)
    return fppa_deg(
        pose[leg.hip],
        pose[leg.knee],
        pose[leg.ankle],
        other_hip=pose[leg.other_hip],
        aspect=aspect,
    )


def _mirrored(point: Point) -> Point:
    return Point(1 - point.x, point.y, point.visibility)


# Knee flexion


def test_a_straight_leg_has_no_knee_flexion() -> None:
    assert knee_flexion_deg(Point(0.5, 0.3), Point(0.5, 0.5), Point(0.5, 0.7)) == pytest.approx(
        0, abs=1e-9
    )


@pytest.mark.parametrize("bend", [10.0, 45.0, 90.0, 135.0])
def test_knee_flexion_is_the_angle_between_thigh_and_shank(bend: float) -> None:
    # Side view: thigh forward and down at 30° below horizontal, shank turned down by ``bend``.
    hip = Point(0.4, 0.5)
    knee = Point(0.4 + 0.2 * math.cos(math.radians(30)), 0.5 + 0.2 * math.sin(math.radians(30)))
    shank_angle = math.radians(30 + bend)
    ankle = Point(knee.x + 0.2 * math.cos(shank_angle), knee.y + 0.2 * math.sin(shank_angle))

    assert knee_flexion_deg(hip, knee, ankle) == pytest.approx(bend, abs=1e-6)


@pytest.mark.parametrize("flexion", [0.0, 15.0, 45.0, 90.0, 120.0])
@pytest.mark.parametrize("turn", [0.0, 30.0, 90.0])
def test_3d_knee_flexion_is_exact_whichever_way_the_leg_faces(flexion: float, turn: float) -> None:
    hip, knee, ankle = world_leg(
        flexion_deg=flexion, thigh_forward_deg=0.6 * flexion, turn_deg=turn
    )
    assert knee_flexion_3d_deg(hip, knee, ankle) == pytest.approx(flexion, abs=1e-9)


def test_the_2d_angle_of_a_face_on_lunge_misses_the_flexion_the_3d_angle_sees() -> None:
    # Seen square-on, a knee bent 90° forward projects onto a nearly straight line in the image:
    # why repetitions are found from the 3D (world) landmarks.
    hip, knee, ankle = world_leg(flexion_deg=90.0, thigh_forward_deg=50.0)
    projected = [Point(p.x, p.y) for p in (hip, knee, ankle)]
    assert knee_flexion_deg(*projected) == pytest.approx(0.0, abs=1e-9)
    assert knee_flexion_3d_deg(hip, knee, ankle) == pytest.approx(90.0, abs=1e-9)


def test_3d_knee_flexion_is_the_same_for_a_mirrored_person() -> None:
    hip, knee, ankle = world_leg(flexion_deg=70.0, thigh_forward_deg=40.0, turn_deg=20.0)
    mirrored = [Point3(-p.x, p.y, p.z) for p in (hip, knee, ankle)]
    assert knee_flexion_3d_deg(*mirrored) == pytest.approx(70.0, abs=1e-9)


@property_test
@given(
    flexion=st.floats(0.0, 160.0),
    thigh_forward=st.floats(-30.0, 100.0),
    turn=st.floats(-180.0, 180.0),
)
def test_3d_knee_flexion_is_exact_for_any_leg(
    flexion: float, thigh_forward: float, turn: float
) -> None:
    hip, knee, ankle = world_leg(
        flexion_deg=flexion, thigh_forward_deg=thigh_forward, turn_deg=turn
    )
    assert knee_flexion_3d_deg(hip, knee, ankle) == pytest.approx(flexion, abs=1e-6)


def test_3d_knee_flexion_of_coincident_or_missing_points_raises() -> None:
    with pytest.raises(DegeneratePoseError, match="thigh"):
        knee_flexion_3d_deg(Point3(0, 0, 0), Point3(0, 0, 0), Point3(0, 0.4, 0))
    with pytest.raises(DegeneratePoseError, match="non-finite"):
        knee_flexion_3d_deg(Point3(0, 0, 0), Point3(0, 0.4, math.nan), Point3(0, 0.8, 0))


# FPPA: magnitude and sign


def test_fppa_is_exactly_ten_degrees_for_a_knee_displaced_by_ten_degrees() -> None:
    # Thigh 5° medial, shank 5° back: the thigh-shank angle is exactly 10°.
    pose = _front_view_pose(left_fppa=10.0, right_fppa=10.0)
    hip, knee, ankle = pose[RIGHT_HIP], pose[RIGHT_KNEE], pose[RIGHT_ANKLE]
    assert knee.x > hip.x  # medial, for a right leg seen from the front
    hip_knee_ankle = math.degrees(
        math.acos(
            ((hip.x - knee.x) * (ankle.x - knee.x) + (hip.y - knee.y) * (ankle.y - knee.y))
            / (
                math.dist((hip.x, hip.y), (knee.x, knee.y))
                * math.dist((ankle.x, ankle.y), (knee.x, knee.y))
            )
        )
    )

    assert hip_knee_ankle == pytest.approx(170.0, abs=1e-6)
    assert _fppa_of(pose, "right") == pytest.approx(10.0, abs=1e-6)


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("angle", [-20.0, -7.5, 3.0, 10.0, 16.8, 35.0])
def test_valgus_is_positive_and_varus_negative_on_both_legs(side: str, angle: float) -> None:
    pose = _front_view_pose(left_fppa=angle, right_fppa=angle)
    assert _fppa_of(pose, side) == pytest.approx(angle, abs=1e-6)


def test_each_leg_is_measured_on_its_own() -> None:
    pose = _front_view_pose(left_fppa=18.0, right_fppa=-6.0)

    assert _fppa_of(pose, "left") == pytest.approx(18.0, abs=1e-6)
    assert _fppa_of(pose, "right") == pytest.approx(-6.0, abs=1e-6)


def test_knee_flexion_is_the_unsigned_fppa_in_a_front_view() -> None:
    pose = _front_view_pose(left_fppa=-12.0, right_fppa=12.0)
    leg = landmarks_for("left")

    assert knee_flexion_deg(pose[leg.hip], pose[leg.knee], pose[leg.ankle]) == pytest.approx(
        12.0, abs=1e-6
    )


def test_a_knee_on_the_hip_ankle_line_reads_zero() -> None:
    pose = _front_view_pose(left_fppa=0.0, right_fppa=0.0)
    assert _fppa_of(pose, "left") == pytest.approx(0.0, abs=1e-9)


# FPPA: views and mirroring


def test_a_back_view_gives_the_same_values() -> None:
    # From behind the person's right side is on the right of the frame, and the medial side of
    # the right leg is -x: built independently of the front view.
    right = _leg((0.58, 0.5), medial=-1, thigh_deg=4.0, fppa=14.0)
    left = _leg((0.58 - HIP_WIDTH, 0.5), medial=+1, thigh_deg=4.0, fppa=-5.0)
    pose = dict(zip((RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE), right, strict=True)) | dict(
        zip((LEFT_HIP, LEFT_KNEE, LEFT_ANKLE), left, strict=True)
    )
    assert pose[RIGHT_KNEE].x < pose[RIGHT_HIP].x  # a valgus right knee moves left in this view

    assert _fppa_of(pose, "right") == pytest.approx(14.0, abs=1e-6)
    assert _fppa_of(pose, "left") == pytest.approx(-5.0, abs=1e-6)


def test_a_mirrored_frame_keeps_each_legs_value_when_the_labels_follow_the_legs() -> None:
    pose = _front_view_pose(left_fppa=18.0, right_fppa=-6.0)
    mirrored = {index: _mirrored(point) for index, point in pose.items()}

    assert _fppa_of(mirrored, "left") == pytest.approx(18.0, abs=1e-6)
    assert _fppa_of(mirrored, "right") == pytest.approx(-6.0, abs=1e-6)


def test_a_mirrored_frame_with_swapped_labels_keeps_the_value_with_the_physical_leg() -> None:
    # A pose model reading a selfie-mirrored frame as an ordinary one calls the right leg
    # "left". The value still belongs to the leg it was measured on, and keeps its sign.
    pose = _front_view_pose(left_fppa=18.0, right_fppa=-6.0)
    swap = {
        LEFT_HIP: RIGHT_HIP,
        RIGHT_HIP: LEFT_HIP,
        LEFT_KNEE: RIGHT_KNEE,
        RIGHT_KNEE: LEFT_KNEE,
        LEFT_ANKLE: RIGHT_ANKLE,
        RIGHT_ANKLE: LEFT_ANKLE,
    }
    relabelled = {swap[index]: _mirrored(point) for index, point in pose.items()}

    assert _fppa_of(relabelled, "right") == pytest.approx(18.0, abs=1e-6)
    assert _fppa_of(relabelled, "left") == pytest.approx(-6.0, abs=1e-6)


@property_test
@given(
    hip_x=st.floats(0.2, 0.8),
    hip_y=st.floats(0.2, 0.6),
    hip_width=st.floats(0.05, 0.3),
    thigh_deg=st.floats(-25, 25),
    fppa=st.floats(-40, 60),
    thigh=st.floats(0.1, 0.3),
    shank=st.floats(0.1, 0.3),
    aspect=st.sampled_from([1.0, 4 / 3, 16 / 9, 9 / 16]),
)
def test_fppa_is_exact_for_any_leg_and_unchanged_by_mirroring(
    hip_x: float,
    hip_y: float,
    hip_width: float,
    thigh_deg: float,
    fppa: float,
    thigh: float,
    shank: float,
    aspect: float,
) -> None:
    # Built in frame heights, then expressed in normalized coordinates for a frame of ``aspect``.
    hip, knee, ankle = _leg(
        (hip_x, hip_y), medial=+1, thigh_deg=thigh_deg, fppa=fppa, thigh=thigh, shank=shank
    )
    other_hip = Point(hip_x + hip_width, hip_y)
    normalized = [Point(p.x / aspect, p.y) for p in (hip, knee, ankle, other_hip)]

    measured = fppa_deg(*normalized[:3], other_hip=normalized[3], aspect=aspect)
    mirrored = [_mirrored(p) for p in normalized]
    measured_mirrored = fppa_deg(*mirrored[:3], other_hip=mirrored[3], aspect=aspect)

    assert measured == pytest.approx(fppa, abs=1e-6)
    assert measured_mirrored == pytest.approx(measured, abs=1e-9)


# Aspect ratio


def test_normalized_coordinates_need_the_frame_aspect() -> None:
    # A 10° valgus knee in a 1280 x 720 frame, in pixels and as MediaPipe reports it (0..1).
    width, height = 1280, 720
    pixels = _front_view_pose(left_fppa=10.0, right_fppa=10.0)
    pixels = {i: Point(p.x * height, p.y * height) for i, p in pixels.items()}
    normalized = {i: Point(p.x / width, p.y / height) for i, p in pixels.items()}

    assert _fppa_of(pixels, "left") == pytest.approx(10.0, abs=1e-6)
    assert _fppa_of(normalized, "left", aspect=width / height) == pytest.approx(10.0, abs=1e-6)
    # Read without the aspect, horizontal distances shrink by 9/16 and the angle with them.
    assert _fppa_of(normalized, "left") == pytest.approx(5.63, abs=0.01)


def test_aspect_must_be_positive() -> None:
    with pytest.raises(ValueError, match="aspect"):
        knee_flexion_deg(Point(0.5, 0.3), Point(0.5, 0.5), Point(0.5, 0.7), aspect=0.0)


# Straight leg raise


@pytest.mark.parametrize("raise_deg", [0.0, 5.0, 57.0, 90.0, 110.0])
def test_slr_angle_is_between_the_raised_and_the_resting_leg(raise_deg: float) -> None:
    # Side view of a client lying on a surface that tilts 3° in the frame (camera not level);
    # the two hip landmarks don't coincide exactly. 16:9 frame, normalized coordinates.
    aspect = 16 / 9
    surface = math.radians(-3.0)
    lifted = math.radians(-3.0 - raise_deg)  # y down: raising the leg is a negative angle
    rest_hip, hip = (0.40, 0.62), (0.41, 0.61)
    rest_ankle = (rest_hip[0] + 0.45 * math.cos(surface), rest_hip[1] + 0.45 * math.sin(surface))
    ankle = (hip[0] + 0.45 * math.cos(lifted), hip[1] + 0.45 * math.sin(lifted))

    def normalized(p: tuple[float, float]) -> Point:
        return Point(p[0] / aspect, p[1])

    angle = slr_angle_deg(
        hip=normalized(hip),
        ankle=normalized(ankle),
        rest_hip=normalized(rest_hip),
        rest_ankle=normalized(rest_ankle),
        aspect=aspect,
    )
    assert angle == pytest.approx(raise_deg, abs=1e-6)


# Pelvic drop


@pytest.mark.parametrize("stance_side", ["left", "right"])
@pytest.mark.parametrize("view", ["front", "back"])
def test_pelvic_drop_is_positive_when_the_lifted_legs_hip_drops(
    stance_side: str, view: str
) -> None:
    # The lifted-leg hip sits 5° lower (larger y); which side of the frame it is on depends on
    # the side and the view, and must not matter.
    lifted_on_the_right_of_frame = (stance_side == "left") == (view == "front")
    direction = 1 if lifted_on_the_right_of_frame else -1
    stance_hip = Point(0.5, 0.5)
    tilt = math.radians(5.0)
    lifted_hip = Point(0.5 + direction * 0.16 * math.cos(tilt), 0.5 + 0.16 * math.sin(tilt))

    drop = pelvic_drop(stance_hip=stance_hip, lifted_hip=lifted_hip)
    hitched = pelvic_drop(
        stance_hip=stance_hip, lifted_hip=Point(lifted_hip.x, 0.5 - 0.16 * math.sin(tilt))
    )

    assert drop.tilt_deg == pytest.approx(5.0, abs=1e-6)
    assert drop.drop_fraction == pytest.approx(math.sin(tilt), abs=1e-9)
    assert hitched.tilt_deg == pytest.approx(-5.0, abs=1e-6)
    assert hitched.drop_fraction < 0


def test_pelvic_drop_uses_the_frame_aspect() -> None:
    # 4 cm drop over 20 cm between the hips, in a 1920 x 1080 frame, normalized.
    width, height = 1920, 1080
    stance = Point(800 / width, 500 / height)
    lifted = Point((800 + math.sqrt(200**2 - 40**2)) / width, 540 / height)

    drop = pelvic_drop(stance_hip=stance, lifted_hip=lifted, aspect=width / height)

    assert drop.drop_fraction == pytest.approx(0.2, abs=1e-9)
    assert drop.tilt_deg == pytest.approx(math.degrees(math.asin(0.2)), abs=1e-6)


def test_level_hips_have_no_drop() -> None:
    drop = pelvic_drop(stance_hip=Point(0.6, 0.5), lifted_hip=Point(0.4, 0.5))
    assert drop.tilt_deg == 0.0
    assert drop.drop_fraction == 0.0


# Confidence


def test_confidence_is_the_least_visible_landmark() -> None:
    points = (Point(0.1, 0.2, 0.97), Point(0.2, 0.3, 0.42), Point(0.3, 0.4, 0.88))
    assert confidence(*points) == 0.42
    assert not is_usable(*points)
    assert is_usable(*points, min_visibility=0.4)
    assert is_usable(Point(0, 0, MIN_VISIBILITY), Point(1, 1, 0.99))


def test_confidence_needs_a_landmark() -> None:
    with pytest.raises(ValueError, match="at least one"):
        confidence()


def test_points_copy_mediapipe_landmarks() -> None:
    class Landmark:
        x, y, z, visibility = 0.25, 0.75, -0.1, 0.6

    assert Point.of(Landmark()) == Point(0.25, 0.75, 0.6)
    assert Point3.of(Landmark()) == Point3(0.25, 0.75, -0.1, 0.6)


# Sides


def test_sides_give_the_mediapipe_indices() -> None:
    assert landmarks_for("left").hip == LEFT_HIP
    assert landmarks_for("left").other_hip == RIGHT_HIP
    assert landmarks_for("right").knee == RIGHT_KNEE
    assert landmarks_for("right").foot_index == 32
    assert other_side("left") == "right"
    assert other_side("right") == "left"
    with pytest.raises(ValueError, match="'left' or 'right'"):
        landmarks_for("Left")  # type: ignore[arg-type]


# Degenerate input


def test_coincident_hip_and_knee_raise() -> None:
    with pytest.raises(DegeneratePoseError, match="thigh"):
        knee_flexion_deg(Point(0.5, 0.5), Point(0.5, 0.5), Point(0.5, 0.8))


def test_coincident_knee_and_ankle_raise_in_fppa() -> None:
    with pytest.raises(DegeneratePoseError, match="shank"):
        fppa_deg(Point(0.5, 0.4), Point(0.5, 0.6), Point(0.5, 0.6), other_hip=Point(0.66, 0.4))


def test_fppa_needs_the_other_hip_off_the_leg_line() -> None:
    # Seen from the side both hips overlap: medial and lateral cannot be told apart.
    with pytest.raises(DegeneratePoseError, match="hips"):
        fppa_deg(Point(0.5, 0.4), Point(0.52, 0.6), Point(0.5, 0.8), other_hip=Point(0.5, 0.4))
    with pytest.raises(DegeneratePoseError, match="medial"):
        fppa_deg(Point(0.5, 0.4), Point(0.52, 0.6), Point(0.5, 0.8), other_hip=Point(0.5, 0.39))


def test_coincident_hips_raise_in_pelvic_drop() -> None:
    with pytest.raises(DegeneratePoseError, match="hips"):
        pelvic_drop(stance_hip=Point(0.5, 0.5), lifted_hip=Point(0.5, 0.5))


def test_a_non_finite_coordinate_raises() -> None:
    with pytest.raises(DegeneratePoseError, match="non-finite"):
        slr_angle_deg(
            hip=Point(0.4, 0.6),
            ankle=Point(math.nan, 0.3),
            rest_hip=Point(0.4, 0.6),
            rest_ankle=Point(0.8, 0.6),
        )


def test_degenerate_pose_is_a_value_error() -> None:
    assert issubclass(DegeneratePoseError, ValueError)
