"""A store closed (made inactive) stops its API keys at once, cached or not."""

import pytest

from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db


def test_closing_a_store_stops_its_cached_keys_at_once(api_client, web,
                                                      django_capture_on_commit_callbacks):
    client = api_client()
    assert client.get("/api/v1/programme/").status_code == 200  # the key is cached now
    assert client.get("/api/v1/programme/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        web.active = False
        web.save()
    assert_error(client.get("/api/v1/programme/"), 401, "not_authenticated")
    with django_capture_on_commit_callbacks(execute=True):
        web.active = True
        web.save()
    assert client.get("/api/v1/programme/").status_code == 200
