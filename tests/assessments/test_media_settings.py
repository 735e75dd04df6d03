"""The media settings the system check refuses: the issue bounds pose analysis at 10-15 frames a
second (fewer miss the bottom of a quick repetition, more only load the server)."""

import pytest
from django.core import checks
from django.core.checks import run_checks


@pytest.mark.parametrize("fps", [10, 12, 15])
def test_analysis_rates_of_10_to_15_a_second_pass_the_system_check(settings, fps) -> None:
    settings.MEDIA_ANALYSIS_FPS = fps
    assert not [m for m in run_checks() if m.id == "assessments.E002"]


@pytest.mark.parametrize("fps", [0, 9, 16, 30, -12])
def test_other_analysis_rates_fail_the_system_check(settings, fps) -> None:
    settings.MEDIA_ANALYSIS_FPS = fps
    [error] = [m for m in run_checks() if m.id == "assessments.E002"]
    assert error.level == checks.ERROR
    assert error.msg == (
        f"MEDIA_ANALYSIS_FPS is {fps}: camera measurement analyses 10 to 15 frames a second."
    )
