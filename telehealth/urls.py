from django.contrib import admin
from django.urls import include, path

from telehealth import views

# An error of telehealth.unavailable.CAUSES raised outside a view still gets "very busy".
handler500 = "telehealth.unavailable.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    # Liveness, kept at its old address for the monitors and scripts that use it.
    path("healthz", views.healthz_live, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz_live"),
    path("healthz/ready", views.healthz_ready, name="healthz_ready"),
    path("healthz/beat", views.healthz_beat, name="healthz_beat"),
    path("admin/login/", views.admin_login),
    path("admin/", admin.site.urls),
    path("", include("clinic.urls")),
    path("", include("sessions.urls")),
    path("", include("dashboard.urls")),
    path("", include("assessments.urls")),
]
