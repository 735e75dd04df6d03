from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.http import HttpRequest, HttpResponse

from clinic.audit import RequestContext, audit_record
from clinic.models import (
    AuditAction,
    AuditEvent,
    Client,
    Clinician,
    ClinicianNote,
    Consent,
    ConsentDocument,
    Intake,
    User,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
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
    readonly_fields = ["document", "accepted_at", "accepted_by", "signed_name", "ip_address"]
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    """Viewing or changing a client here is audited like anywhere else."""

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

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        client = Client.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if request.method == "GET" and client is not None and response.status_code == 200:
            audit_record(
                actor=request.user,
                action=AuditAction.VIEWED,
                object_type="client",
                object_uuid=client.uuid,
                client=client,
                context=RequestContext.from_request(request),
            )
        return response

    def save_model(self, request: HttpRequest, obj: Client, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_record(
            actor=request.user,
            action=AuditAction.UPDATED if change else AuditAction.CREATED,
            object_type="client",
            object_uuid=obj.uuid,
            client=obj,
            context=RequestContext.from_request(request),
            changes=form.changed_data,
        )


@admin.register(ClinicianNote)
class ClinicianNoteAdmin(admin.ModelAdmin):
    list_display = ["client", "author", "created_at"]
    list_select_related = ["client__user", "author"]
    readonly_fields = ["uuid", "client", "author", "body", "created_at", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        response = super().change_view(request, object_id, form_url, extra_context)
        note = ClinicianNote.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        if note is not None and response.status_code == 200:
            audit_record(
                actor=request.user,
                action=AuditAction.VIEWED,
                object_type="clinician_note",
                object_uuid=note.uuid,
                client=note.client,
                context=RequestContext.from_request(request),
            )
        return response


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
    list_display = ["at", "actor_email", "action", "object_type", "client", "ip_address"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_email", "object_uuid", "client__user__email"]
    list_select_related = ["client__user"]
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
