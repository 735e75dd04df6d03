"""A server installed without the `vision` extra, for real: a fresh interpreter in which
`import mediapipe` fails (as tests/test_dependencies.py hides the extras), on SQLite settings
as the quick start uses. The panel's Measure button says how to enable camera measurement, the
socket refuses to start one with the same words, and values are still entered by hand."""

import json
import os
import subprocess
import sys
from pathlib import Path

from assessments.pose.model import ENABLE_HINT

ROOT = Path(__file__).resolve().parents[2]

SCENARIO = r"""
import importlib.abc
import json
import sys


class HideMediaPipe(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.partition(".")[0] == "mediapipe":
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, HideMediaPipe())

import django

django.setup()

import datetime as dt
import re
from html import unescape

from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.core.management import call_command
from django.test import Client as Browser
from django.urls import reverse
from django.utils import timezone

from assessments.models import Exercise, ResultValue
from assessments.programs.exercise_library import exercises_load
from assessments.services import assessment_start_for_appointment
from clinic.audit import SYSTEM
from sessions.room.services import room_admit
from telehealth.asgi import application
from tests import factories

call_command("migrate", verbosity=0)
if not Exercise.objects.exists():
    exercises_load(Exercise)
clinician = factories.make_clinician(email="maya@clinic.example", full_name="Maya Okafor")
client = factories.make_client(email="ana@example.org", full_name="Ana Silva")
appointment = factories.make_appointment(
    service=factories.make_service(clinician),
    clinician=clinician,
    client=client,
    starts_at=timezone.now().replace(microsecond=0) + dt.timedelta(minutes=5),
)
room_admit(appointment=appointment, user=clinician.user, now=timezone.now())
assessment = assessment_start_for_appointment(
    appointment=appointment, actor=clinician.user, context=SYSTEM, now=timezone.now()
)
browser = Browser()
browser.force_login(clinician.user)
panel = browser.get(reverse("assessments:panel_for_appointment", args=[appointment.uuid]))
html = panel.content.decode()
start = html.index('<div class="measure" data-protocol="lunge"')
lunge = html[start : html.index('class="secondary step-save"', start)]
button = re.search(r"<button[^>]*>Measure</button>", lunge).group(0)
described_by = re.search(r'aria-describedby="([^"]+)"', button).group(1)
explanation = unescape(re.search(rf'id="{described_by}"[^>]*>([^<]*)<', lunge).group(1))

# Manual capture, without JavaScript: the step's own Save button.
saved = browser.post(
    reverse("assessments:step_save", args=[assessment.uuid, "lunge"]),
    {"lunge.left.1.fppa_deg": "12.5", "base:lunge.left.1.fppa_deg": "0"},
)
row = ResultValue.objects.get(protocol="lunge", side="left", trial=1, field="fppa_deg")


async def measure():
    socket = WebsocketCommunicator(
        application,
        f"/ws/assessments/{assessment.uuid}/",
        headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")] + [
            (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())
        ],
    )
    assert (await socket.connect())[0]
    await socket.receive_json_from(10)
    await socket.send_json_to(
        {"type": "measure", "action": "start", "protocol": "lunge", "side": "left"}
    )
    answer = await socket.receive_json_from(10)
    await socket.disconnect()
    return answer


print(
    json.dumps(
        {
            "mediapipe_importable": "mediapipe" in sys.modules,
            "panel_status": panel.status_code,
            "button": button,
            "explanation": explanation,
            "save_status": saved.status_code,
            "saved": [row.value, row.source],
            "measure": async_to_sync(measure)(),
        }
    )
)
"""


def test_without_mediapipe_the_measure_button_says_how_to_enable_it(tmp_path) -> None:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "TELEHEALTH_", "CELERY_", "POSE_", "MEDIA_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_HOST"}
    }
    result = subprocess.run(
        [sys.executable, "-c", SCENARIO],
        cwd=ROOT,
        env={
            **environment,
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'clinic.sqlite3'}",
            "TELEHEALTH_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])

    assert found["mediapipe_importable"] is False
    assert found["panel_status"] == 200
    # The button is there, not usable, and tells why and how to enable it.
    assert 'aria-disabled="true"' in found["button"]
    assert found["explanation"] == ENABLE_HINT
    assert "scripts/install vision" in ENABLE_HINT
    assert "pip install '.[vision]'" in ENABLE_HINT
    # Values are entered by hand as before.
    assert found["save_status"] == 302
    assert found["saved"] == [12.5, "manual"]
    assert found["measure"] == {"type": "measurement", "state": "refused", "message": ENABLE_HINT}
