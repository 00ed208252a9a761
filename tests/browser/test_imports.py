"""The import pages in a real browser: an upload run to its summary, and a job's page that
follows the running job by itself (static/js/imports.js), under the strict CSP."""

import pytest

from accounts.models import StaffRole
from loyalty.models import ImportJob, Purchase
from loyalty.services.imports import jobs
from tests.browser.conftest import fits_the_width, open_page
from tests.factories import StaffRoleFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FILE = (b"customer_ref,order_id,occurred_at,amount\n"
        b"C1,O1,2024-03-01,10.00\nC2,O2,2024-03-02,20.00\n")


@pytest.fixture
def manager(shop):
    return StaffRoleFactory(user=UserFactory(email="manager@example.com"), store=shop["paris"],
                            role=StaffRole.Role.MANAGER).user


def test_a_manager_uploads_a_file_and_reads_its_summary(browser, live_server, manager,
                                                        tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes(FILE)
    watched = open_page(browser, live_server, user=manager)
    page = watched.page
    page.goto("/staff/")
    page.get_by_role("link", name="Imports").click()
    page.get_by_label("CSV file").set_input_files(str(path))
    page.get_by_role("button", name="Upload and import").click()
    page.wait_for_url("**/staff/imports/*/")
    assert page.locator("#import-status").inner_text() == "Imported."
    assert "Purchases added" in page.locator("table").inner_text()
    assert Purchase.objects.count() == 2
    assert fits_the_width(page)
    assert watched.csp_violations == []


def test_a_jobs_page_follows_it_and_shows_how_it_ended(browser, live_server, manager, shop,
                                                      monkeypatch):
    monkeypatch.setattr(jobs, "queue", lambda job_id: None)  # no worker has it yet
    job = jobs.create_job(kind="purchases", store=shop["paris"], filename="later.csv",
                          content=FILE, by=manager)
    watched = open_page(browser, live_server, user=manager)
    page = watched.page
    page.goto(f"/staff/imports/{job.uuid}/")
    assert page.locator("#import-progress").get_attribute("value") == "0"
    assert page.locator("#import-status").inner_text() == "Queued"
    jobs.run_job(job_id=job.pk)  # the worker, meanwhile
    page.wait_for_selector("text=Imported.")
    assert ImportJob.objects.get().status == "done"
    assert watched.csp_violations == []
