"""Home programs: from an assessment's findings to the exercises a client practises at home.

- planner.py: which exercises answer which findings, in which phase (plain data).
- services.py: plans and their editing (move, swap, dose, note), the program's schedule and
  adherence, and the check that a plan may be approved.
- approval.py: approving a plan: the program email and the reminder schedule.
- exercise_library.py: the exercises, loaded by a data migration and edited in the admin.
- emails.py, pdf.py, links.py: the program email with its PDF, and the signed one-click links.
- reminders.py: the reminder schedule, its dispatch and the client's reminder settings.
- views/: the clinician's plan review and approval, the client's program page and links.

Built on the guided assessment (its findings and models); the assessment does not import it:
it asks for a plan by queueing a task by name (telehealth.tasks.queue_after_commit).
"""
