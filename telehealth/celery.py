"""The Celery application; configuration comes from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings")

# Every task queued after a commit is queued robustly (telehealth/tasks.py says why).
app = Celery("telehealth", task_cls="telehealth.tasks:QueuedAfterCommit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
