"""Role checks for views. Object-level access lives in the selectors that fetch the object."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from clinic.models import Role

View = Callable[..., HttpResponse]


def role_required(*roles: Role) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.role not in roles:
                raise PermissionDenied("This page is not part of your account.")
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


clinician_required = role_required(Role.CLINICIAN, Role.ADMIN)
client_required = role_required(Role.CLIENT)
