from django.apps import AppConfig
from django.core import checks


class AssessmentsConfig(AppConfig):
    name = "assessments"
    verbose_name = "Assessments and home programs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(check_thresholds)
        checks.register(check_media_settings)


def check_thresholds(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    from assessments.findings import thresholds_with

    try:
        thresholds_with(settings.ASSESSMENT_THRESHOLDS)
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), id="assessments.E001")]
    return []


def check_media_settings(app_configs: object = None, **kwargs: object) -> list[checks.CheckMessage]:
    from django.conf import settings

    from assessments.media_worker import ANALYSIS_FPS_RANGE

    fps = settings.MEDIA_ANALYSIS_FPS
    low, high = ANALYSIS_FPS_RANGE
    if not low <= fps <= high:
        return [
            checks.Error(
                f"MEDIA_ANALYSIS_FPS is {fps}: camera measurement analyses {low} to {high} "
                "frames a second.",
                id="assessments.E002",
            )
        ]
    return []
