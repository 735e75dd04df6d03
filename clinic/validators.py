import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: str) -> bool:
    return name in time_zone_names()


def validate_time_zone(name: str) -> None:
    if not is_time_zone(name):
        raise ValidationError(
            "“%(name)s” is not a time zone we know. Pick one from the list, e.g. Europe/London.",
            params={"name": name[:64]},
            code="invalid_time_zone",
        )
