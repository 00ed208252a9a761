"""The Celery application. Tasks live in each app's tasks.py and stay thin."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty.settings")

app = Celery("loyalty")
# The app of every thread, not only of the one that imported this module: a request served
# in another thread (gunicorn's gthread workers, the test server) would otherwise hand its
# tasks to Celery's fallback app, which is neither configured nor eager.
app.set_default()
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
