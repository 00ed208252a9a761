"""Vouchers given without points (a journey's, a campaign's): once per occasion, no ledger
entry, and at the till and online exactly like bought ones."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone

from loyalty.models import PointsEntry
from loyalty.services.audit import audit_ledger
from loyalty.services.errors import VoucherExpired, VoucherNotValidHere, VoucherUsed
from loyalty.services.privacy import erase_member
from rewards import services
from rewards.models import Redemption, Voucher
from tests.factories import StoreFactory, UserFactory, make_member
from tests.rewards.helpers import issue, reward

pytestmark = pytest.mark.django_db
JOURNEY = Voucher.Source.JOURNEY


def give(member, *, key="win_back:1", item=None, days=30, now=None):
    now = now or timezone.now()
    return services.grant_voucher(member=member, reward=item or reward(), source=JOURNEY,
                                  expires_at=now + timedelta(days=days), occasion_key=key,
                                  now=now)


def test_a_given_voucher_moves_no_points_and_freezes_the_rewards_kind_and_value(member):
    item = reward(value=Decimal("5"), active=False, stock=0)  # not on sale: it can be given
    recorded = give(member, item=item)
    voucher = recorded.obj
    assert recorded.created
    assert (voucher.kind, voucher.value, voucher.source, voucher.occasion_key) == (
        "amount_voucher", Decimal("5.00"), "journey", "win_back:1")
    assert voucher.redemption is None and not voucher.bought
    assert not PointsEntry.objects.filter(member=member).exists()
    assert not Redemption.objects.exists()
    member.refresh_from_db()
    assert member.balance == 0
    item.refresh_from_db()
    assert item.stock == 0  # the catalogue's stock is not the gift's
    assert audit_ledger().violations == []


def test_the_same_occasion_gives_one_voucher_however_often(member):
    item = reward()
    first = give(member, item=item)
    again = give(member, item=item)
    assert first.created and not again.created
    assert again.obj.pk == first.obj.pk
    assert Voucher.objects.count() == 1
    many = services.grant_vouchers(member_keys=[(member.pk, "win_back:1"),
                                                (member.pk, "win_back:2")],
                                   reward=first.obj.reward, source=JOURNEY,
                                   expires_at=timezone.now() + timedelta(days=3))
    assert many == 1 and Voucher.objects.count() == 2


def test_an_occasion_for_another_member_is_a_conflict(member):
    give(member)
    other = make_member(email="other@example.com")
    with pytest.raises(services.VoucherGrantConflict):
        give(other)


def test_a_given_voucher_is_used_at_the_till_and_online_like_a_bought_one(member):
    paris, web = StoreFactory(code="paris"), StoreFactory(code="web")
    item = reward(kind="percent_voucher", value=Decimal("10"))
    item.stores.set([paris])
    voucher = give(member, item=item).obj
    checked, discount = services.validate_voucher(code=voucher.code, order_amount="80.00",
                                                  store=paris)
    assert (checked.pk, discount) == (voucher.pk, Decimal("8.00"))
    with pytest.raises(VoucherNotValidHere):
        services.redeem_voucher(code=voucher.formatted_code, order_id="W1", store=web)
    assert services.redeem_voucher(code=voucher.formatted_code, order_id="P1",
                                   store=paris).created
    with pytest.raises(VoucherUsed):
        services.redeem_voucher(code=voucher.code, order_id="P2", store=paris)


def test_a_given_voucher_expires_on_its_date(member):
    now = timezone.now()
    voucher = give(member, days=7, now=now).obj
    with time_machine.travel(now + timedelta(days=7, seconds=1), tick=False):
        with pytest.raises(VoucherExpired):
            services.validate_voucher(code=voucher.code)
        assert services.expire_vouchers() == 1
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.EXPIRED


def test_cancelling_a_given_voucher_gives_no_points_back(member):
    voucher = give(member).obj
    services.cancel_voucher(voucher_id=voucher.pk)
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.CANCELLED
    assert not PointsEntry.objects.filter(member=member).exists()


def test_the_member_sees_a_gift_without_the_cancel_button_and_cannot_cancel_it(client):
    member = make_member(email="marie@example.com", user=UserFactory(email="marie@example.com"))
    client.force_login(member.user)
    gift = give(member).obj
    bought = issue(member)
    html = client.get(reverse("rewards:vouchers")).content.decode()
    assert gift.formatted_code in html and bought.formatted_code in html
    assert reverse("rewards:cancel", args=[gift.pk]) not in html
    assert reverse("rewards:cancel", args=[bought.pk]) in html
    response = client.post(reverse("rewards:cancel", args=[gift.pk]))
    assert response.status_code == 302
    gift.refresh_from_db()
    assert gift.status == Voucher.Status.ISSUED


def test_erasing_a_member_cancels_given_vouchers_too(member):
    give(member)
    issue(member)
    erase_member(member=member)
    assert set(Voucher.objects.values_list("status", flat=True)) == {"cancelled"}
    assert audit_ledger().violations == []
