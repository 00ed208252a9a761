from rest_framework.throttling import SimpleRateThrottle

from loyalty.api.auth import Caller


class CallerRateThrottle(SimpleRateThrottle):
    """A request budget per API key (or per staff session), kept in the cache (Redis)."""

    scope = "api"

    def get_cache_key(self, request, view):
        caller = request.user
        ident = caller.owner if isinstance(caller, Caller) else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
