from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Model
from django.http import HttpRequest, HttpResponse

from clinic.audit import SYSTEM, AuditSubject, RequestContext, audit_record_many
from clinic.models import (
    AuditAction,
    AuditEvent,
    Client,
    Clinician,
    ClinicianNote,
    Consent,
    ConsentDocument,
    Intake,
    Role,
    User,
)


class ReadOnlyInline(admin.TabularInline):
    """Rows a page shows as history: written by the application, never edited here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OutgoingEmailInline(ReadOnlyInline):
    """The emails owed about a change and what became of them (sent, refused for good with the
    server's reply, or still to send), so staff can see when a client was never reached."""

    fields = ["created_at", "sent_at", "failed_at", "failure", "resent", "retry_at"]
    readonly_fields = fields


class AuditedAdmin(admin.ModelAdmin):
    """An admin whose pages show a client's record: opening a list or an object, and saving a
    change, are audited like the same actions anywhere else in the application."""

    def audit_subjects(self, objects: Sequence[Model]) -> list[AuditSubject]:
        """The parts of client records that ``objects`` show (none for staff and the like)."""
        raise NotImplementedError

    def _audit(
        self,
        request: HttpRequest,
        action: AuditAction,
        objects: Sequence[Model],
        changes: Sequence[str] = (),
    ) -> None:
        subjects = self.audit_subjects(objects)
        if subjects:
            audit_record_many(
                actor=request.user,
                action=action,
                subjects=subjects,
                context=RequestContext.from_request(request),
                changes=changes,
            )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        # Redirects (bad filters) and refusals have no list; action POSTs audit themselves.
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if request.method == "GET" and response.status_code == 200 and changelist is not None:
            # The page's sliced queryset caches its rows, so rendering reuses them.
            self._audit(request, AuditAction.VIEWED, list(changelist.result_list))
        return response

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        shown = (getattr(response, "context_data", None) or {}).get("original")
        if request.method == "GET" and response.status_code == 200 and shown is not None:
            self._audit(request, AuditAction.VIEWED, [shown])
        return response

    def save_model(self, request: HttpRequest, obj: Model, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if form.changed_data or not change:
            self._audit(
                request,
                AuditAction.UPDATED if change else AuditAction.CREATED,
                [obj],
                changes=form.changed_data,
            )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin):
    filter_horizontal = ()  # as UserAdmin's: a plain multiple select


@admin.register(User)
class UserAdmin(AuditedAdmin, BaseUserAdmin):
    # Django's two-box picker (filter_horizontal) names its icons with aria-label on a span,
    # which assistive technology ignores: a plain multiple select is read as it is.
    filter_horizontal = ()
    ordering = ["email"]
    list_display = ["email", "full_name", "role", "is_active", "is_staff"]
    list_filter = ["role", "is_active", "is_staff"]
    search_fields = ["email", "full_name"]
    readonly_fields = ["uuid", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["uuid", "email", "password"]}),
        ("Person", {"fields": ["full_name", "role", "time_zone"]}),
        (
            "Access",
            {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]},
        ),
        ("Dates", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": ["email", "full_name", "role", "time_zone", "password1", "password2"],
            },
        )
    ]

    def audit_subjects(self, objects: Sequence[User]) -> list[AuditSubject]:
        client_user_ids = [user.pk for user in objects if user.role == Role.CLIENT]
        if not client_user_ids:
            return []
        return [
            AuditSubject("client", client.uuid, client)
            for client in Client.objects.filter(user_id__in=client_user_ids)
        ]


@admin.register(Clinician)
class ClinicianAdmin(admin.ModelAdmin):
    list_display = ["__str__", "profession", "is_bookable"]
    list_select_related = ["user"]
    search_fields = ["user__full_name", "user__email"]
    readonly_fields = ["uuid"]


class IntakeInline(admin.StackedInline):
    model = Intake
    extra = 0
    can_delete = False
    readonly_fields = [field.name for field in Intake._meta.fields]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ConsentInline(admin.TabularInline):
    model = Consent
    extra = 0
    can_delete = False
    readonly_fields = ["document", "accepted_at", "signed_in_account", "signed_name", "ip_address"]
    fields = readonly_fields

    @admin.display(description="Accepted by")
    def signed_in_account(self, consent: Consent) -> str:
        # Booking works without signing in; then nobody is known to have accepted but the
        # person who typed the name.
        if consent.accepted_by is None:
            return "Booked without signing in"
        return consent.accepted_by.email

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Client)
class ClientAdmin(AuditedAdmin):
    list_display = ["__str__", "email_address", "red_flag_raised_at", "created_at"]
    list_select_related = ["user"]
    search_fields = ["user__full_name", "user__email"]
    readonly_fields = ["uuid", "user", "created_at", "updated_at"]
    inlines = [IntakeInline, ConsentInline]

    @admin.display(description="Email", ordering="user__email")
    def email_address(self, client: Client) -> str:
        return client.user.email

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def audit_subjects(self, objects: Sequence[Client]) -> list[AuditSubject]:
        return [AuditSubject("client", client.uuid, client) for client in objects]


@admin.register(ClinicianNote)
class ClinicianNoteAdmin(AuditedAdmin):
    list_display = ["client", "author", "created_at"]
    list_select_related = ["client__user", "author"]
    readonly_fields = ["uuid", "client", "author", "body", "created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def audit_subjects(self, objects: Sequence[ClinicianNote]) -> list[AuditSubject]:
        return [AuditSubject("clinician_note", note.uuid, note.client) for note in objects]


@admin.register(ConsentDocument)
class ConsentDocumentAdmin(admin.ModelAdmin):
    """Published consent texts are evidence of what clients agreed to: add new versions only."""

    list_display = ["title", "kind", "version", "published_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["kind", "version", "title", "body", "published_at"] if obj else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "who", "action", "object_type", "client", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_email", "object_uuid", "client__user__email"]
    list_select_related = ["client__user"]
    date_hierarchy = "at"

    @admin.display(description="Who", ordering="actor_email")
    def who(self, event: AuditEvent) -> str:
        if event.actor_email:
            return event.actor_email
        # Booking and the emailed links work without signing in; tasks run as the system.
        return "System" if event.path == SYSTEM.path else "Not signed in"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
