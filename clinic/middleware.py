import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from clinic.validators import is_time_zone

TIME_ZONE_COOKIE = "tz"


def viewer_time_zone(request: HttpRequest) -> tuple[str, bool]:
    """The zone to show times in, and whether it came from the viewer rather than a default.

    An explicit choice on the page (?tz=) wins; then a signed-in person's own setting, then
    what the browser reported (cookie set by the page script), then the clinic's zone.
    """
    chosen = request.GET.get("tz", "")
    if chosen and is_time_zone(chosen):
        return chosen, True
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and is_time_zone(user.time_zone):
        return user.time_zone, True
    reported = request.COOKIES.get(TIME_ZONE_COOKIE, "")
    if reported and is_time_zone(reported):
        return reported, True
    return settings.CLINIC_TIME_ZONE, False


class TimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        name, known = viewer_time_zone(request)
        request.viewer_time_zone = name
        request.viewer_time_zone_known = known
        timezone.activate(zoneinfo.ZoneInfo(name))
        try:
            response = self.get_response(request)
        finally:
            timezone.deactivate()
        chosen = request.GET.get("tz", "")
        if chosen and is_time_zone(chosen) and request.COOKIES.get(TIME_ZONE_COOKIE) != chosen:
            response.set_cookie(
                TIME_ZONE_COOKIE,
                chosen,
                max_age=365 * 24 * 3600,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response
