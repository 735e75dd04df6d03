from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Clinician and client dashboards"

    def ready(self) -> None:
        # The pages the layers below link to (clinic/pages.py): home after sign-in, the way
        # back from a call or a program, the client's record from emails and plans.
        from django.urls import reverse

        from clinic import pages

        pages.register("client_home", lambda: reverse("dashboard:my_care"))
        pages.register("clinician_home", lambda: reverse("dashboard:clinician_home"))
        pages.register(
            "client_record", lambda uuid: reverse("dashboard:client_record", args=[uuid])
        )
