"""The URLs loyalty/urls.py mounts once ANYMAIL_WEBHOOK_SECRET is set (read at import)."""

from django.urls import include, path

urlpatterns = [path("anymail/", include("anymail.urls"))]
