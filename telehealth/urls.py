from django.contrib import admin
from django.urls import include, path

from telehealth import views

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
