"""One-click unsubscribe from a message's link: no login, a signed token (RFC 8058).

GET shows what unsubscribing means with a button (a link opened by a mail
scanner must not unsubscribe anybody); POST unsubscribes, whether from that
button or from a mail client's one-click request (`List-Unsubscribe-Post`,
which carries no CSRF token: the signed token is the proof).
"""

from django.http import Http404
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from loyalty.services.errors import NotFound
from loyalty.services.messaging import unsubscribe as service


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    try:
        member = (service.unsubscribe(token=token) if request.method == "POST"
                  else service.member_for(token))
    except NotFound:
        raise Http404 from None
    return render(request, "portal/unsubscribe.html", {
        "done": request.method == "POST", "token": token,
        "masked_email": _masked(member.email)})


def _masked(email: str) -> str:
    """Enough of the address for its owner to recognise it, not enough to harvest it."""
    name, _at, domain = email.partition("@")
    return f"{name[:1]}…@{domain}" if domain else ""
