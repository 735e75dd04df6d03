from django.conf import settings
from django.http import HttpRequest


def clinic(request: HttpRequest) -> dict[str, object]:
    return {
        "clinic_name": settings.CLINIC_NAME,
        "sign_in_link_minutes": settings.SIGN_IN_LINK_MINUTES,
    }
