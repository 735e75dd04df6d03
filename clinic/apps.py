from django.apps import AppConfig
from django.core import checks

from clinic import pages


class ClinicConfig(AppConfig):
    name = "clinic"
    verbose_name = "Clinic: people and client records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(pages_registered)


def pages_registered(app_configs: object, **kwargs: object) -> list[checks.CheckMessage]:
    """Every page the lower layers link to (clinic/pages.py) is registered by its app."""
    return [
        checks.Error(f"No app registers the page {name!r}.", id="clinic.E001")
        for name in pages.missing()
    ]
