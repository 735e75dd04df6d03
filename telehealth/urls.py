from django.contrib import admin
from django.urls import include, path

from telehealth import views

# An error of telehealth.unavailable.CAUSES raised outside a view still gets "very busy".
handler500 = "telehealth.unavailable.server_error"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("healthz/beat", views.healthz_beat, name="healthz_beat"),
    path("admin/login/", views.admin_login),
    path("admin/", admin.site.urls),
    path("", include("clinic.urls")),
    path("", include("sessions.urls")),
    path("", include("dashboard.urls")),
    path("", include("assessments.urls")),
]
