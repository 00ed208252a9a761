"""The import pages: who may use them, an upload run to its end, and files that are no CSV."""

import csv
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.models import ImportJob, Member, Purchase
from loyalty.services.imports import jobs
from tests.factories import UserFactory
from tests.staff.conftest import page_text

pytestmark = pytest.mark.django_db

IMPORTS = reverse("staff:imports")
GOOD = (b"customer_ref,order_id,occurred_at,amount\n"
        b"C1,O1,2024-03-01,10.00\nC2,O2,2024-03-02,20.00\n")
BAD = (b"customer_ref,order_id,occurred_at,amount\n"
       b"C1,O1,2024-03-01,10.00\nC2,O2,yesterday,20.00\n")


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    return client


def upload(client, content=GOOD, *, store="paris", kind="purchases", name="history.csv",
           **extra):
    return client.post(IMPORTS, {"kind": kind, "store": store,
                                 "file": SimpleUploadedFile(name, content, "text/csv"),
                                 **extra})


def job_pages(job):
    return [reverse(name, kwargs={"uuid": job.uuid}) for name in
            ("staff:import-job", "staff:import-progress", "staff:import-rejected")]


def lyon_job(lyon):
    return jobs.create_job(kind="purchases", store=lyon, filename="lyon.csv", content=BAD)


# --- who may use them ------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_the_login(client, store, lyon):
    for url in [IMPORTS, *job_pages(lyon_job(lyon))]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_cashiers_are_refused(cashier_client, lyon, store):
    for url in [IMPORTS, *job_pages(lyon_job(lyon))]:
        assert cashier_client.get(url).status_code == 403
    assert upload(cashier_client).status_code == 403
    assert not ImportJob.objects.filter(store=store).exists()


def test_a_manager_imports_for_their_own_stores_only(manager_client, lyon):
    page = manager_client.get(IMPORTS)
    assert page.status_code == 200
    assert list(page.context["form"].fields["store"].choices) == [("paris", "Paris")]
    response = upload(manager_client, store="lyon")
    assert response.status_code == 400
    assert "store" in response.context["form"].errors
    assert not ImportJob.objects.exists()
    other = lyon_job(lyon)
    for url in job_pages(other):
        assert manager_client.get(url).status_code == 404
    assert "lyon.csv" not in page_text(manager_client.get(IMPORTS))


def test_a_programme_admin_imports_for_every_store(admin_client, store, lyon):
    form = admin_client.get(IMPORTS).context["form"]
    assert {code for code, _name in form.fields["store"].choices} == {"paris", "lyon"}
    other = lyon_job(lyon)
    assert admin_client.get(job_pages(other)[0]).status_code == 200


def test_the_dashboard_links_to_imports_for_managers_not_cashiers(client, manager, cashier):
    link = f'href="{IMPORTS}"'
    client.force_login(manager)
    assert link in client.get(reverse("staff:dashboard")).content.decode()
    client.force_login(cashier)
    assert link not in client.get(reverse("staff:dashboard")).content.decode()


# --- an upload, to its end -------------------------------------------------------------------


def test_an_upload_runs_and_its_page_shows_the_summary(manager_client, manager,
                                                       django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_client)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("staff:import-job", kwargs={"uuid": job.uuid})
    assert (job.created_by, job.filename, job.status) == (manager, "history.csv", "done")
    page = manager_client.get(response["Location"])
    text = page_text(page)
    assert "Imported." in text
    assert "Purchases added 2" in text and "Members created 2" in text
    assert Purchase.objects.count() == 2
    progress = manager_client.get(job_pages(job)[1]).json()
    assert (progress["finished"], progress["percent"], progress["status"]) == (True, 100,
                                                                               "done")
    assert manager_client.get(job_pages(job)[2]).status_code == 404  # nothing was rejected
    assert "history.csv" in page_text(manager_client.get(IMPORTS))


def test_a_queued_job_shows_its_progress_bar_and_the_script_that_follows_it(manager_client):
    upload(manager_client)  # its task is never run here
    job = ImportJob.objects.get()
    page = manager_client.get(job_pages(job)[0]).content.decode()
    assert re.search(r'<progress id="import-progress"[^>]* value="0"', page)
    assert f'data-url="{job_pages(job)[1]}"' in page
    assert '<script type="module" src="/static/js/imports.js"></script>' in page
    progress = manager_client.get(job_pages(job)[1])
    assert progress["Cache-Control"] == "no-store"
    assert progress.json() == {"status": "queued", "status_label": "Queued", "rows_done": 0,
                               "rows_total": 0, "percent": 0, "finished": False,
                               "text": "Queued"}


def test_a_rejected_upload_lists_its_errors_and_offers_the_rejected_rows(
        manager_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(manager_client, BAD, name="march.csv")
    job = ImportJob.objects.get()
    assert job.status == "rejected"
    text = page_text(manager_client.get(job_pages(job)[0]))
    assert "Rejected: nothing was imported" in text
    assert "1 problem" in text and "line 3: occurred_at : Not a date" in text
    download = manager_client.get(job_pages(job)[2])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    assert download["Content-Disposition"] == 'attachment; filename="march-rejected.csv"'
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["customer_ref", "order_id", "occurred_at", "amount", "line", "error"]
    assert rows[1][:5] == ["C2", "O2", "yesterday", "20.00", "3"]
    assert not Purchase.objects.exists() and not Member.objects.exists()


def test_a_job_rejected_in_english_reads_in_french_for_a_french_reader(
        manager_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(manager_client, BAD, HTTP_ACCEPT_LANGUAGE="en")
    job = ImportJob.objects.get()
    assert "message" not in job.errors[0]
    text = page_text(manager_client.get(job_pages(job)[0], HTTP_ACCEPT_LANGUAGE="fr"))
    assert "Date ou heure non conforme" in text and "Not a date" not in text
    download = manager_client.get(job_pages(job)[2], HTTP_ACCEPT_LANGUAGE="fr")
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert "occurred_at: Date ou heure non conforme" in body


def test_the_job_page_has_no_inline_script_or_style(manager_client,
                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(manager_client, BAD)
    upload(manager_client)
    for job in ImportJob.objects.all():
        for url in (IMPORTS, job_pages(job)[0]):
            html = manager_client.get(url).content.decode()
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
            assert " style=" not in html and "<style" not in html


# --- files that are not what they should be ---------------------------------------------------


@pytest.mark.parametrize("content, code", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not_utf8"),
    (b"GIF89a\x00\x00binary\x00", "binary"),
    (b"name,price\nshoes,10\n", "missing_columns"),
    (b"customer_ref,order_id,occurred_at,amount\n" + b"9" * 200_000 + b"\n", "line_too_long"),
    (b"\n\n\n", "empty_file"),
    ("customer_ref;order_id;occurred_at;amount\nC1;O1;2024-03-01;1,50\n".encode("cp1252"),
     "invalid_amount"),
    ("customer_ref,order_id,occurred_at,amount\nC1,Caf\xe9,2024-03-01,1.00\n".encode("cp1252"),
     "not_utf8"),
])
def test_garbage_files_are_rejected_with_a_reason_never_a_server_error(
        manager_client, django_capture_on_commit_callbacks, content, code):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_client, content)
    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == "rejected" and job.errors[0]["code"] == code
    for url in job_pages(job):
        assert manager_client.get(url).status_code == 200


def test_an_empty_or_too_large_file_is_a_form_error(manager_client, settings):
    response = upload(manager_client, b"")
    assert response.status_code == 400 and "file" in response.context["form"].errors
    settings.LOYALTY_IMPORT_MAX_BYTES = 50
    response = upload(manager_client, GOOD)
    assert response.status_code == 400
    assert "the limit is 50 bytes" in str(response.context["form"].errors["file"])
    assert not ImportJob.objects.exists()


def test_a_form_without_a_file_or_kind_says_so(manager_client):
    response = manager_client.post(IMPORTS, {"store": "paris", "kind": "lunch"})
    assert response.status_code == 400
    assert set(response.context["form"].errors) == {"kind", "file"}


def test_the_admin_shows_jobs_without_their_file(admin_client, store):
    job = jobs.create_job(kind="purchases", store=store, filename="h.csv", content=GOOD)
    changelist = admin_client.get(reverse("admin:loyalty_importjob_changelist"))
    assert changelist.status_code == 200 and "h.csv" in changelist.content.decode()
    page = admin_client.get(reverse("admin:loyalty_importjob_change", args=[job.pk]))
    assert page.status_code == 200
    assert "C1,O1" not in page.content.decode()
    assert admin_client.get(reverse("admin:loyalty_importjob_add")).status_code == 403
