from django.apps import AppConfig


class VirtualSessionsConfig(AppConfig):
    name = "sessions"
    # django.contrib.sessions already owns the label "sessions".
    label = "virtual_sessions"
    verbose_name = "Booking and virtual sessions"
    default_auto_field = "django.db.models.BigAutoField"
