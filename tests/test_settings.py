"""Embedded defaults for the quick start; production mode refuses insecure settings."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECURE = {
    "TELEHEALTH_MODE": "production",
    "SECRET_KEY": "s3cr3t-" + "k" * 20 + "-Zq9!x@Lm#Vb2$Nw7%Ty4^Hr6&Jp8*Gd5(Fc1)",
    "ALLOWED_HOSTS": "clinic.example.com",
    "SITE_URL": "https://clinic.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/telehealth",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "EMAIL_HOST": "smtp.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "TELEHEALTH_"))
    }
    for key in (
        "DATABASE_URL",
        "REDIS_URL",
        "EMAIL_HOST",
        "SECRET_KEY",
        "ALLOWED_HOSTS",
        "SITE_URL",
        "DEBUG",
        "CSRF_TRUSTED_ORIGINS",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
    ):
        clean.pop(key, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_pass_the_deploy_checks() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=SECURE)

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 60}, "SECRET_KEY must be set"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS must list"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must list"),
        ({"DATABASE_URL": ""}, "DATABASE_URL must point to PostgreSQL"),
        ({"DATABASE_URL": "sqlite:///clinic.sqlite3"}, "DATABASE_URL must point to PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL must be set"),
        ({"EMAIL_HOST": ""}, "EMAIL_HOST must be set"),
        ({"SITE_URL": "http://clinic.example.com"}, "SITE_URL must start with https://"),
        # What check --deploy reports as W004, W005 and W021, and what preload lists require.
        ({"SECURE_HSTS_SECONDS": "0"}, "SECURE_HSTS_SECONDS must be at least 31536000"),
        ({"SECURE_HSTS_SECONDS": "-5"}, "SECURE_HSTS_SECONDS must be at least 31536000"),
        ({"SECURE_HSTS_SECONDS": "86400"}, "SECURE_HSTS_SECONDS must be at least 31536000"),
        (
            {"SECURE_HSTS_INCLUDE_SUBDOMAINS": "false"},
            "SECURE_HSTS_INCLUDE_SUBDOMAINS must be true",
        ),
        ({"SECURE_HSTS_PRELOAD": "false"}, "SECURE_HSTS_PRELOAD must be true"),
        (
            {"CSRF_TRUSTED_ORIGINS": "https://clinic.example.com,http://clinic.example.com"},
            "CSRF_TRUSTED_ORIGINS must be https:// origins; not http://clinic.example.com",
        ),
    ],
)
def test_production_mode_refuses_to_start_with_an_insecure_setting(
    change: dict[str, str], complaint: str
) -> None:
    env = {**SECURE, **change}
    result = manage("check", env={key: value for key, value in env.items() if value})

    assert result.returncode != 0
    assert "Refusing to start in production mode" in result.stderr
    assert complaint in result.stderr


def test_every_problem_is_listed_at_once() -> None:
    result = manage(
        "check",
        env={
            **SECURE,
            "SECURE_HSTS_SECONDS": "0",
            "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
            "CSRF_TRUSTED_ORIGINS": "http://clinic.example.com",
        },
    )

    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS must be at least 31536000" in result.stderr
    assert "SECURE_HSTS_INCLUDE_SUBDOMAINS must be true" in result.stderr
    assert "CSRF_TRUSTED_ORIGINS must be https:// origins" in result.stderr


def test_a_mistyped_boolean_is_an_error_not_a_default() -> None:
    result = manage("check", env={**SECURE, "DEBUG": "flase"})

    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


def test_without_configuration_the_server_runs_on_embedded_defaults(tmp_path) -> None:
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE']); "
        "print(s.CHANNEL_LAYERS['default']['BACKEND']); "
        "print(s.CELERY_BROKER_URL); print(s.EMAIL_BACKEND); print(s.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "telehealth.settings",
            "TELEHEALTH_VAR_DIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "filesystem://",
        "django.core.mail.backends.console.EmailBackend",
        "True",
    ]
