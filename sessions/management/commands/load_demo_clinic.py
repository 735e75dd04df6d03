"""Fill a database with a small demo clinic; safe to run again (it tops up, never duplicates)."""

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from clinic.audit import SYSTEM
from clinic.models import Client, Clinician, ConsentKind, DominantLeg, Profession, Role, User
from clinic.services import consent_accept, consent_document_current, intake_submit
from sessions.models import (
    Appointment,
    AppointmentStatus,
    ExtraHours,
    Service,
    TimeOff,
    WeeklyHours,
)

DEMO_PASSWORD = "clinic-demo-2026"  # noqa: S105 - printed for the local demo only

CLINICIANS = [
    {
        "email": "maya.okafor@demo.clinic",
        "full_name": "Maya Okafor",
        "time_zone": "Europe/London",
        "profession": Profession.PHYSIOTHERAPIST,
        "bio": "Physiotherapist; hip and knee rehabilitation for runners and walkers.",
        "hours": [(day, dt.time(9), dt.time(17)) for day in range(5)],
    },
    {
        "email": "sam.rivera@demo.clinic",
        "full_name": "Sam Rivera",
        "time_zone": "America/New_York",
        "profession": Profession.MOBILITY_COACH,
        "bio": "Mobility coach; ankle and hip mobility for people who sit all day.",
        "hours": [(day, dt.time(8), dt.time(12)) for day in range(6)]
        + [(day, dt.time(13), dt.time(17)) for day in range(5)],
    },
]

CLIENTS = [
    ("ana.silva@demo.clinic", "Ana Silva", "Europe/Lisbon", DominantLeg.RIGHT, False),
    ("ben.carter@demo.clinic", "Ben Carter", "America/Chicago", DominantLeg.LEFT, False),
    ("chloe.martin@demo.clinic", "Chloe Martin", "Europe/London", DominantLeg.RIGHT, True),
    ("dev.patel@demo.clinic", "Dev Patel", "Asia/Kolkata", DominantLeg.UNSURE, False),
]


class Command(BaseCommand):
    help = "Load a demo clinic: clinicians, services, clients and appointments."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo clinic is not loaded in production mode.")
        with transaction.atomic():
            services = self._services()
            clinicians = [self._clinician(spec) for spec in CLINICIANS]
            for service in services:
                service.clinicians.add(*clinicians)
            self._admin()
            clients = [self._client(*spec) for spec in CLIENTS]
            self._appointments(services, clinicians, clients)
        self._print_sign_in()

    def _services(self) -> list[Service]:
        assessment, _ = Service.objects.get_or_create(
            name="Virtual assessment",
            defaults={
                "description": "A full video assessment of hips, knees and ankles with guided "
                "tests, followed by a personal home program.",
                "duration_minutes": 45,
                "buffer_after_minutes": 15,
                "minimum_notice_minutes": 120,
                "booking_horizon_days": 60,
                "change_window_hours": 24,
                "position": 1,
            },
        )
        call, _ = Service.objects.get_or_create(
            name="Free mobility consultation call",
            defaults={
                "description": "A short call to talk about your knee and whether an assessment "
                "is right for you.",
                "duration_minutes": 15,
                "buffer_after_minutes": 5,
                "minimum_notice_minutes": 60,
                "booking_horizon_days": 30,
                "change_window_hours": 2,
                "position": 2,
            },
        )
        return [assessment, call]

    def _clinician(self, spec: dict[str, Any]) -> Clinician:
        user, created = User.objects.get_or_create(
            email=spec["email"],
            defaults={
                "full_name": spec["full_name"],
                "time_zone": spec["time_zone"],
                "role": Role.CLINICIAN,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        clinician, created = Clinician.objects.get_or_create(
            user=user, defaults={"profession": spec["profession"], "bio": spec["bio"]}
        )
        if created:
            WeeklyHours.objects.bulk_create(
                WeeklyHours(clinician=clinician, weekday=day, starts_at=start, ends_at=end)
                for day, start, end in spec["hours"]
            )
            zone = zoneinfo.ZoneInfo(spec["time_zone"])
            today = timezone.localdate(timezone=zone)
            next_friday = today + dt.timedelta(days=(4 - today.weekday()) % 7 + 7)
            TimeOff.objects.create(
                clinician=clinician,
                starts_at=dt.datetime.combine(next_friday, dt.time(0), tzinfo=zone),
                ends_at=dt.datetime.combine(
                    next_friday + dt.timedelta(days=1), dt.time(0), tzinfo=zone
                ),
                note="Training day",
            )
            next_sunday = today + dt.timedelta(days=(6 - today.weekday()) % 7 or 7)
            ExtraHours.objects.create(
                clinician=clinician,
                starts_at=dt.datetime.combine(next_sunday, dt.time(10), tzinfo=zone),
                ends_at=dt.datetime.combine(next_sunday, dt.time(13), tzinfo=zone),
                note="Weekend clinic",
            )
        return clinician

    def _admin(self) -> None:
        if not User.objects.filter(email="admin@demo.clinic").exists():
            User.objects.create_superuser(
                "admin@demo.clinic",
                DEMO_PASSWORD,
                full_name="Clinic Admin",
                time_zone="Europe/London",
            )

    def _client(self, email: str, name: str, zone: str, leg: DominantLeg, red_flag: bool) -> Client:
        user, _ = User.objects.get_or_create(
            email=email, defaults={"full_name": name, "time_zone": zone, "role": Role.CLIENT}
        )
        client, created = Client.objects.get_or_create(
            user=user,
            defaults={
                "phone": "+44 20 7946 0000",
                "date_of_birth": dt.date(1984, 5, 17),
                "dominant_leg": leg,
                "emergency_contact_name": "Alex " + name.split()[-1],
                "emergency_contact_phone": "+44 20 7946 0001",
            },
        )
        if created:
            intake_submit(
                client=client,
                actor=user,
                context=SYSTEM,
                answers={
                    "knee_pain_side": "right" if leg != DominantLeg.LEFT else "left",
                    "pain_duration": "6_to_12_weeks",
                    "pain_now": 4,
                    "aggravating_activities": ["stairs", "running", "squatting"],
                    "previous_injuries": "Ankle sprain, 2019.",
                    "night_pain": red_flag,
                },
            )
            document = consent_document_current(ConsentKind.TELEHEALTH)
            if document is not None:
                consent_accept(
                    client=client,
                    document=document,
                    accepted_by=user,
                    signed_name=name,
                    context=SYSTEM,
                )
        return client

    def _appointments(
        self, services: list[Service], clinicians: list[Clinician], clients: list[Client]
    ) -> None:
        """Appointments around now; the first starts within minutes so a session can be tried.

        Running the command again adds only those whose time is still free, so the one starting
        soon is renewed while earlier runs' appointments stay.
        """
        assessment, call = services
        now = timezone.now().replace(second=0, microsecond=0)
        soon = now + dt.timedelta(minutes=5)
        plan = [
            (assessment, clinicians[0], clients[0], soon),
            (call, clinicians[1], clients[1], now + dt.timedelta(hours=3)),
            (assessment, clinicians[0], clients[2], now + dt.timedelta(days=2, hours=1)),
            (assessment, clinicians[1], clients[3], now + dt.timedelta(days=3)),
            (call, clinicians[0], clients[1], now - dt.timedelta(days=7)),
        ]
        for service, clinician, client, starts_at in plan:
            times = service.appointment_times(starts_at)
            if Appointment.objects.filter(
                clinician=clinician,
                status=AppointmentStatus.CONFIRMED,
                blocked_from__lt=times["blocked_until"],
                blocked_until__gt=times["blocked_from"],
            ).exists():
                continue
            Appointment.objects.create(
                service=service,
                clinician=clinician,
                client=client,
                intake=client.intakes.first(),
                **times,
            )

    def _print_sign_in(self) -> None:
        site = settings.SITE_URL
        self.stdout.write(
            self.style.SUCCESS("\nDemo clinic ready.\n")
            + f"  Open {site}/\n"
            + "  Clinicians: maya.okafor@demo.clinic or sam.rivera@demo.clinic,\n"
            + f"    password {DEMO_PASSWORD}\n"
            + f"  Clinic admin: admin@demo.clinic, password {DEMO_PASSWORD} ({site}/admin/)\n"
            + "  Clients (e.g. ana.silva@demo.clinic) sign in with an emailed link: emails are\n"
            + "  printed in this terminal by the Celery worker.\n"
        )
