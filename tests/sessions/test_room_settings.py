"""The channel layer is sized by the longest room a clinic can have."""

import json
import os
import subprocess
import sys
from pathlib import Path

from sessions.models import MAX_DURATION_MINUTES

ROOT = Path(__file__).resolve().parents[2]
PRINT_LAYER = (
    "import json; from django.conf import settings; "
    "print(json.dumps({'group_expiry': settings.CHANNEL_LAYERS['default']['CONFIG']"
    "['group_expiry']}))"
)


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CHANNELS_", "ROOM_", "TELEHEALTH_"))
    }
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {PRINT_LAYER}"],
        cwd=ROOT,
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def group_expiry(**env: str) -> int:
    result = load_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["group_expiry"]


def test_room_groups_outlive_the_longest_room() -> None:
    # Opens 15 minutes before, lasts the longest service, closes 30 minutes after.
    assert group_expiry() >= (15 + MAX_DURATION_MINUTES + 30) * 60
    # A longer join window makes the groups last longer too.
    assert group_expiry(ROOM_CLOSES_MINUTES_AFTER="120") >= (15 + MAX_DURATION_MINUTES + 120) * 60


def test_a_group_expiry_shorter_than_the_longest_room_is_refused() -> None:
    result = load_settings(CHANNELS_GROUP_EXPIRY_SECONDS=str(3 * 60 * 60))

    assert result.returncode != 0
    assert (
        "CHANNELS_GROUP_EXPIRY_SECONDS (10800) must be at least 31500: the longest room "
        "(15 min before the start, a 480 min service, 30 min after) stays open that long"
    ) in result.stderr
