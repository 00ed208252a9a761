"""The least the API's work can cost, as plain Django views: the API benchmark's baseline.

`write` does what a purchase must do at the very least, in one transaction:
lock the member row, insert one ledger entry, update the balance with F().
`read` reads one member row by id. No authentication, serializers, rules or
idempotency: every figure of the real endpoints is compared with these.
They live in bench/ only and are served only by bench.settings.
"""

import json

from django.db import transaction
from django.db.models import F
from django.http import HttpResponseBadRequest, HttpResponseNotFound, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from loyalty.models import Member, PointsEntry


@csrf_exempt
@require_POST
def write(request):
    try:
        body = json.loads(request.body)
        member_id, points = int(body["member_id"]), int(body.get("points", 100))
    except (ValueError, KeyError, TypeError):
        return HttpResponseBadRequest()
    with transaction.atomic():
        try:
            member = (Member.objects.select_for_update()
                      .only("pk", "balance", "pending").get(pk=member_id))
        except Member.DoesNotExist:
            return HttpResponseNotFound()
        PointsEntry.objects.create(
            member=member, kind=PointsEntry.Kind.EARN, points=points,
            balance_after=member.balance + member.pending + points,
            reason="Baseline", reference="bench:baseline", created_at=timezone.now())
        Member.objects.filter(pk=member_id).update(balance=F("balance") + points)
    return JsonResponse({"member_id": member_id, "balance": member.balance + points},
                        status=201)


@require_GET
def read(request, member_id: int):
    member = (Member.objects.filter(pk=member_id)
              .values("id", "card_number", "first_name", "balance", "pending").first())
    if member is None:
        return HttpResponseNotFound()
    return JsonResponse(member)
