"""Two workers sending one campaign at once: one sends, the other finds it sent. PostgreSQL
only (SQLite serialises every writer, so it cannot show the race)."""

from datetime import UTC, datetime

import pytest

from loyalty.models import Campaign, CampaignMember, Member, Message
from loyalty.services import campaigns
from tests.concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_two_workers_sending_one_campaign_send_each_message_once():
    Member.objects.bulk_create([Member(card_number=f"c{i:07d}", email=f"c{i}@example.com",
                                       email_marketing=True) for i in range(500)])
    campaign = Campaign.objects.create(name="Win-back", subject="Hi", body="Back?",
                                       status=Campaign.Status.SENDING, holdout_percent=10)

    results = run_at_once(2, lambda i: campaigns.send_campaign(campaign_id=campaign.pk,
                                                               now=NOW))
    assert all(isinstance(result, int) for result in results), results
    sent_group = CampaignMember.objects.filter(campaign=campaign,
                                               group=CampaignMember.Group.SENT).count()
    assert sorted(results) == [0, sent_group]
    assert CampaignMember.objects.filter(campaign=campaign).count() == 500
    assert Message.objects.filter(campaign=campaign).count() == sent_group
    # The database's draw is the one anyone can recompute from the seed.
    campaign.refresh_from_db()
    for member_id, group in CampaignMember.objects.values_list("member_id", "group"):
        assert (group == CampaignMember.Group.HOLDOUT) == campaigns.in_holdout(campaign,
                                                                               member_id)
