from importlib import import_module

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoyaltyConfig(AppConfig):
    name = "loyalty"
    verbose_name = _("Loyalty programme")

    def ready(self):
        from django.db.backends.signals import connection_created

        from loyalty.api import schema  # noqa: F401 - registers the OpenAPI auth schemes
        from loyalty.names import register_sqlite_function
        from loyalty.services import settings_cache

        settings_cache.connect_signals()
        connection_created.connect(register_sqlite_function,
                                   dispatch_uid="loyalty.names.sqlite_unaccent")
        from loyalty import email_tracking

        email_tracking.connect()  # bounces and complaints from the email provider
        # Our apps' tasks are registered in every process (web included), so that the
        # services can hand work over by task name without importing the task modules.
        for module in ("loyalty.tasks", "rewards.tasks"):
            import_module(module)
