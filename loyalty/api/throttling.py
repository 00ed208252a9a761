import logging

from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import SimpleRateThrottle

from loyalty.api.auth import Caller

logger = logging.getLogger(__name__)

# Counters kept in this process when the shared cache does not answer.
LOCAL_COUNTERS = LocMemCache("loyalty-throttle-fallback", {"OPTIONS": {"MAX_ENTRIES": 10_000}})


class CallerRateThrottle(SimpleRateThrottle):
    """A request budget per API key (or per staff session), kept in the cache (Redis).

    With the cache down it fails open to a per-process budget at the same rate: never a 500,
    never every request refused.
    """

    scope = "api"

    def get_cache_key(self, request, view):
        caller = request.user
        ident = caller.owner if isinstance(caller, Caller) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception:  # noqa: BLE001 - any cache backend's connection error
            logger.warning("throttling: the cache did not answer; counting in this process",
                           exc_info=True)
            self.cache = LOCAL_COUNTERS
            return super().allow_request(request, view)
