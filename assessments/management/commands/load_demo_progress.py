"""Give the demo clinic some history: assessments, findings, a program under way (after an
earlier one) and a plan waiting for approval. Run after load_demo_clinic (scripts/demo does);
safe to run again."""

import datetime as dt
import random
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from assessments.models import LogSource, PainLog, PracticeLog
from assessments.programs.approval import plan_approve
from assessments.programs.reminders import reminders_for_plan_replace
from assessments.programs.services import client_today, plan_generate, plan_schedule
from assessments.services import (
    assessment_complete,
    assessment_start_in_person,
    assessment_value_save,
)
from clinic.audit import SYSTEM
from clinic.models import Client, Clinician

# Ben improves between his two assessments; Dev's is new and his plan waits for Sam.
BEN_FIRST = {
    "faber.left.1.faber_height_cm": 19,
    "faber.right.1.faber_height_cm": 13,
    "knee_to_wall.left.1.ktw_cm": 7.5,
    "knee_to_wall.right.1.ktw_cm": 11,
    "lunge.left.1.knee_position": "medial_to_big_toe",
    "lunge.left.1.fppa_deg": 17,
    "lunge.left.2.fppa_deg": 18.5,
    "lunge.left.3.fppa_deg": 16,
    "lunge.right.1.fppa_deg": 7,
    "lunge.right.2.fppa_deg": 8,
    "lunge.right.3.fppa_deg": 6.5,
    "aslr.left.1.aslr_score": 2,
    "aslr.right.1.aslr_score": 1,
}
BEN_SECOND = {
    "faber.left.1.faber_height_cm": 16,
    "faber.right.1.faber_height_cm": 13,
    "knee_to_wall.left.1.ktw_cm": 9.5,
    "knee_to_wall.right.1.ktw_cm": 11,
    "lunge.left.1.knee_position": "over_big_toe",
    "lunge.left.1.fppa_deg": 12,
    "lunge.left.2.fppa_deg": 13,
    "lunge.left.3.fppa_deg": 11.5,
    "lunge.right.1.fppa_deg": 7,
    "lunge.right.2.fppa_deg": 6,
    "lunge.right.3.fppa_deg": 7.5,
    "aslr.left.1.aslr_score": 1,
    "aslr.right.1.aslr_score": 1,
}
DEV = {
    "knee_to_wall.left.1.ktw_cm": 12,
    "knee_to_wall.right.1.ktw_cm": 8.5,
    "modified_thomas.right.1.thigh_above_horizontal": True,
}


class Command(BaseCommand):
    help = "Add assessments and home programs to the demo clinic."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data is not loaded in production mode.")
        now = timezone.now()
        maya = Clinician.objects.filter(user__email="maya.okafor@demo.clinic").first()
        sam = Clinician.objects.filter(user__email="sam.rivera@demo.clinic").first()
        ben = Client.objects.filter(user__email="ben.carter@demo.clinic").first()
        dev = Client.objects.filter(user__email="dev.patel@demo.clinic").first()
        if None in (maya, sam, ben, dev):
            raise CommandError("Load the demo clinic first: manage.py load_demo_clinic")
        with transaction.atomic():
            if not ben.assessments.exists():
                # Each assessment gets its plan when it is completed, as the plan task would
                # have done then (left to the worker, the first one's would be proposed today,
                # superseded at once by the program he follows). Maya approved both: the second
                # program replaced the first.
                for values, days_ago in ((BEN_FIRST, 42), (BEN_SECOND, 12)):
                    assessment = self._assess(ben, maya, values, now - dt.timedelta(days=days_ago))
                    plan = plan_generate(assessment_id=assessment.pk, now=assessment.completed_at)
                    plan = plan_approve(
                        plan=plan, actor=maya.user, context=SYSTEM, now=assessment.completed_at
                    )
                # Reminders from now on only: the demo's past is not to be sent.
                reminders_for_plan_replace(plan=plan, now=now)
                self._practice(plan, now)
            if not dev.assessments.exists():
                assessment = self._assess(dev, sam, DEV, now - dt.timedelta(days=1))
                plan_generate(assessment_id=assessment.pk, now=now)
        self.stdout.write(
            self.style.SUCCESS("Demo progress ready: ")
            + "Ben Carter has two assessments and a program under way (Maya Okafor); "
            "Dev Patel's plan waits for Sam Rivera's approval."
        )

    def _assess(self, client: Client, clinician: Clinician, values: dict, when: dt.datetime):
        assessment = assessment_start_in_person(
            client=client, clinician=clinician, actor=clinician.user, context=SYSTEM, now=when
        )
        for key, value in values.items():
            assessment_value_save(
                assessment_id=assessment.pk,
                actor=clinician.user,
                key=key,
                raw=value,
                base_version=0,
                context=SYSTEM,
                now=when,
            )
        return assessment_complete(
            assessment=assessment, actor=clinician.user, context=SYSTEM, now=when
        )

    def _practice(self, plan, now: dt.datetime) -> None:
        """Most exercises ticked off on the days so far, and pain easing."""
        picks = random.Random(plan.pk)  # noqa: S311 - demo data, not security
        today = client_today(plan, now)
        days = sorted(day for day in plan_schedule(plan) if day < today)
        schedule = plan_schedule(plan)
        for number, day in enumerate(days):
            for item in schedule[day].items:
                if picks.random() < 0.8:
                    PracticeLog.objects.get_or_create(
                        item=item,
                        day=day,
                        defaults={"plan": plan, "done_at": now, "source": LogSource.PAGE},
                    )
            PainLog.objects.get_or_create(
                plan=plan,
                day=day,
                defaults={
                    "score": max(1, 6 - number // 2),
                    "recorded_at": now,
                    "source": LogSource.PAGE,
                },
            )
