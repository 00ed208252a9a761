"""`manage.py create_api_key NAME --store CODE [--scopes ...]`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms.models import model_to_dict

from loyalty.models import ApiKey
from tests.api.conftest import assert_error, key_client


def create(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_key_is_printed_alone_on_the_last_line_and_works(web, member):
    out, err = create("e-shop", "--store", "web")
    secret = out.rstrip("\n").splitlines()[-1]
    assert secret == secret.strip() and " " not in secret and "." in secret
    assert secret not in err
    key = ApiKey.objects.get()
    assert key.name == "e-shop" and key.store == web
    assert sorted(key.scopes) == sorted(ApiKey.Scope.values)
    client = key_client(secret)
    assert client.get(f"/api/v1/members/{member.pk}/").status_code == 200
    assert client.post("/api/v1/purchases/", {"order_id": "A1", "amount": "1.00",
                                              "member_id": member.pk},
                       format="json").status_code == 201


def test_scopes_restrict_the_key(web, member):
    out, _ = create("reader", "--store", "web", "--scopes", "members:read")
    client = key_client(out.splitlines()[-1])
    assert ApiKey.objects.get().scopes == ["members:read"]
    assert client.get(f"/api/v1/members/{member.pk}/").status_code == 200
    response = client.post("/api/v1/purchases/", {"order_id": "A1", "amount": "1.00",
                                                  "member_id": member.pk}, format="json")
    assert_error(response, 403, "permission_denied")


def test_several_scopes(web):
    create("till", "--store", "web", "--scopes", "purchases:write", "events:write")
    assert ApiKey.objects.get().scopes == ["purchases:write", "events:write"]


def test_an_unknown_store_is_a_command_error(web):
    with pytest.raises(CommandError, match="nowhere"):
        create("e-shop", "--store", "nowhere")
    assert not ApiKey.objects.exists()


def test_an_unknown_scope_is_a_command_error(web):
    with pytest.raises(CommandError):
        create("e-shop", "--store", "web", "--scopes", "everything")
    assert not ApiKey.objects.exists()


def test_the_key_is_stored_hashed(web):
    out, _ = create("e-shop", "--store", "web")
    secret = out.splitlines()[-1]
    prefix, _, hidden = secret.partition(".")
    key = ApiKey.objects.get()
    row = {name: str(value) for name, value in model_to_dict(key).items()}
    row["id"] = str(key.pk)
    assert key.prefix == prefix
    assert key.hashed_key and key.hashed_key != secret
    for value in row.values():
        assert secret not in value and hidden not in value, row
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ApiKey._meta.db_table}")  # noqa: S608 - our table
        [raw] = cursor.fetchall()
    assert not any(hidden in str(value) for value in raw), raw
