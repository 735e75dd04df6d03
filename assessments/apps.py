from django.apps import AppConfig
from django.core import checks


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments and home programs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_thresholds)


def check_thresholds(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from assessments.findings import thresholds_with

    try:
        thresholds_with(settings.ASSESSMENT_THRESHOLDS)
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="assessments.E001")]
    return []
