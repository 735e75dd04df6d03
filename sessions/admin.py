from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from clinic.admin import AuditedAdmin, ClinicianAdmin, OutgoingEmailInline, ReadOnlyInline
from clinic.audit import AuditSubject, RequestContext
from clinic.models import Clinician
from sessions.booking.services import BookingError, appointment_cancel
from sessions.models import (
    Appointment,
    AppointmentEmail,
    ChatMessage,
    ExtraHours,
    RoomEvent,
    Service,
    TimeOff,
    WeeklyHours,
)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "duration_minutes",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "is_active",
        "position",
    ]
    list_editable = ["is_active", "position"]
    # Not Django's two-box picker (filter_horizontal): its icons are named by aria-label on a
    # span, which assistive technology ignores. A plain multiple select reads as it is.
    readonly_fields = ["uuid"]
    fieldsets = [
        (None, {"fields": ["uuid", "name", "description", "is_active", "position", "clinicians"]}),
        (
            "Timing",
            {
                "fields": [
                    "duration_minutes",
                    "buffer_before_minutes",
                    "buffer_after_minutes",
                    "slot_interval_minutes",
                ]
            },
        ),
        (
            "Booking rules",
            {"fields": ["minimum_notice_minutes", "booking_horizon_days", "change_window_hours"]},
        ),
    ]


class WeeklyHoursInline(admin.TabularInline):
    model = WeeklyHours
    extra = 0


class TimeOffInline(admin.TabularInline):
    model = TimeOff
    extra = 0


class ExtraHoursInline(admin.TabularInline):
    model = ExtraHours
    extra = 0


admin.site.unregister(Clinician)


@admin.register(Clinician)
class ClinicianScheduleAdmin(ClinicianAdmin):
    """Weekly hours are wall-clock times in the clinician's own time zone (their user's)."""

    inlines = [WeeklyHoursInline, TimeOffInline, ExtraHoursInline]


class RoomEventInline(ReadOnlyInline):
    model = RoomEvent
    fields = ["at", "kind", "role", "user", "detail"]
    readonly_fields = fields


class ChatMessageInline(ReadOnlyInline):
    model = ChatMessage
    fields = ["sent_at", "sender", "sender_role", "body"]
    readonly_fields = fields


class AppointmentEmailInline(OutgoingEmailInline):
    model = AppointmentEmail
    fields = ["sequence", "event", "recipient", *OutgoingEmailInline.fields]
    readonly_fields = fields


@admin.register(Appointment)
class AppointmentAdmin(AuditedAdmin):
    """Appointments change through booking, the manage link or the cancel action, never by
    editing times here, so that every change reaches the client's calendar. Their pages show
    the client and the chat, so viewing them is audited."""

    list_display = ["starts_at", "service", "clinician", "client", "status"]
    list_filter = ["status", "service", "clinician"]
    list_select_related = ["service", "clinician__user", "client__user"]
    search_fields = ["client__user__email", "client__user__full_name", "uuid"]
    date_hierarchy = "starts_at"
    actions = ["cancel_appointments"]
    inlines = [RoomEventInline, ChatMessageInline, AppointmentEmailInline]
    readonly_fields = [
        "uuid",
        "service",
        "clinician",
        "client",
        "starts_at",
        "ends_at",
        "blocked_from",
        "blocked_until",
        "status",
        "sequence",
        "intake",
        "created_at",
        "updated_at",
        "cancelled_at",
        "cancelled_by",
        "cancellation_reason",
        "admitted_at",
        "ended_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def audit_subjects(self, objects: Sequence[Appointment]) -> list[AuditSubject]:
        return [
            AuditSubject("appointment", appointment.uuid, appointment.client)
            for appointment in objects
        ]

    @admin.action(description="Cancel the selected appointments and email both sides")
    def cancel_appointments(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        cancelled = 0
        for appointment in queryset:
            try:
                appointment_cancel(
                    appointment=appointment,
                    actor=request.user,
                    by_client=False,
                    reason="Cancelled by the clinic",
                    context=RequestContext.from_request(request),
                )
                cancelled += 1
            except BookingError as error:
                self.message_user(request, f"{appointment}: {error.message}", messages.WARNING)
        self.message_user(request, f"Cancelled {cancelled} appointment(s).", messages.SUCCESS)
