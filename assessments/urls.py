from django.urls import path

from assessments.programs.views import plans, program
from assessments.views import assessment as views

app_name = "assessments"

urlpatterns = [
    path(
        "appointments/<uuid:appointment_uuid>/assessment/",
        views.start_for_appointment,
        name="start_for_appointment",
    ),
    path(
        "appointments/<uuid:appointment_uuid>/assessment/panel/",
        views.panel_for_appointment,
        name="panel_for_appointment",
    ),
    path(
        "clinic/clients/<uuid:client_uuid>/assessments/",
        views.start_in_person,
        name="start_in_person",
    ),
    path("assessments/<uuid:assessment_uuid>/", views.detail, name="detail"),
    path(
        "assessments/<uuid:assessment_uuid>/steps/<str:protocol>/",
        views.step_save,
        name="step_save",
    ),
    path(
        "assessments/<uuid:assessment_uuid>/snapshots/",
        views.snapshot_upload,
        name="snapshot_upload",
    ),
    path(
        "assessments/<uuid:assessment_uuid>/snapshots/<uuid:snapshot_uuid>.jpg",
        views.snapshot_image,
        name="snapshot_image",
    ),
    path("assessments/<uuid:assessment_uuid>/complete/", views.complete, name="complete"),
    path("assessments/<uuid:assessment_uuid>/addenda/", views.addendum, name="addendum"),
]

urlpatterns += [
    path("plans/<uuid:plan_uuid>/", plans.plan_page, name="plan"),
    path("plans/<uuid:plan_uuid>/note/", plans.note, name="plan_note"),
    path("plans/<uuid:plan_uuid>/approve/", plans.approve, name="plan_approve"),
    path("plans/<uuid:plan_uuid>/items/<uuid:item_uuid>/move/", plans.item_move, name="item_move"),
    path("plans/<uuid:plan_uuid>/items/<uuid:item_uuid>/swap/", plans.item_swap, name="item_swap"),
    path("plans/<uuid:plan_uuid>/items/<uuid:item_uuid>/dose/", plans.item_dose, name="item_dose"),
    path(
        "plans/<uuid:plan_uuid>/items/<uuid:item_uuid>/remove/",
        plans.item_remove,
        name="item_remove",
    ),
    path("program/", program.program, name="program"),
    path("program/<uuid:plan_uuid>/done/", program.done, name="program_done"),
    path("program/<uuid:plan_uuid>/pain/", program.pain, name="program_pain"),
    path("program/pain/<str:token>/", program.pain_link, name="pain_link"),
    path("program/done/<str:token>/", program.done_link, name="done_link"),
    path("reminders/<str:token>/", program.reminder_settings, name="reminder_settings"),
    path("reminders/<str:token>/unsubscribe/", program.unsubscribe, name="unsubscribe"),
]
