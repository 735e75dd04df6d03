"""The clinic's admin site: Django's, except that someone signed in without access to it is
told so (403) instead of being sent to sign in.

Django's admin sends everyone it refuses to its login page. Ours is the clinic's rate-limited
form, which sends someone already signed in straight back to the page they asked for: a
client or clinician opening /admin/ went round /admin/ → /admin/login/ → /login/ → /admin/
until the browser gave up (ERR_TOO_MANY_REDIRECTS). Signed-out visitors still go to sign in,
and come back to the admin page they asked for.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


class ClinicAdminSite(admin.AdminSite):
    site_header = "Clinic administration"
    site_title = "Clinic administration"

    def admin_view(
        self, view: Callable[..., HttpResponse], cacheable: bool = False
    ) -> Callable[..., HttpResponse]:
        checked = super().admin_view(view, cacheable)

        @wraps(checked)
        def inner(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if request.user.is_authenticated and not self.has_permission(request):
                raise PermissionDenied("The admin site is for clinic admins.")
            return checked(request, *args, **kwargs)

        return inner


class ClinicAdminConfig(AdminConfig):
    """django.contrib.admin with ClinicAdminSite as ``admin.site``."""

    default_site = "clinic.admin_site.ClinicAdminSite"
