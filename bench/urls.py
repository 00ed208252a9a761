"""The project's URLs, plus the bare baselines the API benchmark compares with."""

from django.urls import path

from bench import baseline
from loyalty.urls import handler404, handler500
from loyalty.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("bench/baseline/", baseline.write, name="bench-baseline-write"),
    path("bench/baseline/members/<int:member_id>/", baseline.read,
         name="bench-baseline-read"),
    *project_urlpatterns,
]

__all__ = ["handler404", "handler500", "urlpatterns"]
