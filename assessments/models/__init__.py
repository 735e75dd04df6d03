"""The assessments app's models, split by domain: the assessment and its results, home
programs, and reminders."""

from assessments.models.assessment import (
    Addendum,
    Assessment,
    AssessmentSetting,
    AssessmentStatus,
    Finding,
    ResultValue,
    Snapshot,
    ValueSource,
)
from assessments.models.measurement import Measurement, MeasurementStatus
from assessments.models.program import (
    Exercise,
    Frequency,
    LogSource,
    PainLog,
    PhaseKind,
    Plan,
    PlanItem,
    PlanPhase,
    PlanStatus,
    PracticeLog,
    ProgramEmail,
)
from assessments.models.reminder import (
    APPOINTMENT_KINDS,
    DEFAULT_REMINDER_TIME,
    PROGRAM_KINDS,
    Reminder,
    ReminderKind,
    ReminderPreference,
    ReminderStatus,
)

__all__ = [
    "APPOINTMENT_KINDS",
    "DEFAULT_REMINDER_TIME",
    "PROGRAM_KINDS",
    "Addendum",
    "Assessment",
    "AssessmentSetting",
    "AssessmentStatus",
    "Exercise",
    "Finding",
    "Frequency",
    "LogSource",
    "Measurement",
    "MeasurementStatus",
    "PainLog",
    "PhaseKind",
    "Plan",
    "PlanItem",
    "PlanPhase",
    "PlanStatus",
    "PracticeLog",
    "ProgramEmail",
    "Reminder",
    "ReminderKind",
    "ReminderPreference",
    "ReminderStatus",
    "ResultValue",
    "Snapshot",
    "ValueSource",
]
