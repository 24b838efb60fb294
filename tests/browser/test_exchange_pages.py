"""Export, import and webhooks in the browser: an admin exports the project as CSV and
downloads the file, imports a Label Studio export and reads its report, registers a webhook
that a real worker delivers to a receiver run by the test, and removes it. Annotators may
not see the page.

The jobs and the deliveries run on a real Celery worker (``worker`` fixture); it is started
after the job is queued, so the page is seen with the job still waiting.
"""

import csv
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser_helpers import image_bytes, login, shot
from factories import PASSWORD
from playwright.sync_api import expect
from polling import wait_for

from labeling.models import (
    Annotation,
    AnnotationLabel,
    AnnotationSource,
    AnnotationStatus,
    InputStatus,
    InterchangeJob,
    Project,
    ReviewDecision,
)
from labeling.services.ingest import input_ingest
from labeling.services.interchange import interchange_job_run
from labeling.services.review import review_decide
from labeling.services.taxonomy import concept_create
from webhooks.models import WebhookDelivery
from webhooks.rules import verify

Job = InterchangeJob
WORKER_S = 60  # worker start-up (a few seconds) and the job itself


def exchange_url(live_server, project: Project) -> str:
    return f"{live_server.url}/projects/{project.id}/exchange/"


def add_input(project: Project, name: str, shade: int):
    data = image_bytes(color=(shade, 255 - shade, (shade * 7) % 256))
    result = input_ingest(project=project, name=name, data=data)
    assert result.created, name
    return result.input


def accept(project: Project, input, author, concept) -> Annotation:
    annotation = Annotation.objects.create(
        project=project,
        input=input,
        author=author,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.ACCEPTED,
    )
    AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    input.status = InputStatus.LABELED
    input.save(update_fields=["status"])
    return annotation


def finished(job_id: int) -> bool:
    return Job.objects.get(id=job_id).is_finished


def admin_page(new_context, live_server, admin):
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    return page


def job_row(page, job: Job):
    return page.locator("#job-table tbody tr", has_text=f"{job.get_kind_display()} #{job.id}")


# ---------------------------------------------------------------------------- export


@pytest.fixture
def birds(project, admin):
    """Two labeled images (robin, sparrow) and one without a label."""
    robin = concept_create(project=project, name="robin", actor=admin)
    sparrow = concept_create(project=project, name="sparrow", actor=admin)
    accept(project, add_input(project, "robin.png", 10), admin, robin)
    accept(project, add_input(project, "sparrow.png", 90), admin, sparrow)
    add_input(project, "empty-feeder.png", 170)
    return project


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_exports_csv_and_downloads_it(live_server, new_context, birds, admin, worker):
    project = birds
    page = admin_page(new_context, live_server, admin)

    # when the admin opens the Export tab of the project
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.locator("nav.tabs").get_by_role("link", name="Export").click()
    expect(page.locator("nav.tabs a.active")).to_have_text("Export")
    expect(page.locator("#jobs")).to_contain_text("No exports or imports yet.")
    shot(page, "exchange_01_empty")

    # and exports as CSV (no worker runs yet: the job waits)
    page.locator("#export-form").get_by_label("Format").select_option("csv")
    page.locator("#export-form").get_by_role("button", name="Export").click()

    # then the job is listed, queued, with an empty progress bar, and the list polls
    job = Job.objects.get(project=project)
    assert (job.kind, job.format, job.created_by) == (Job.Kind.EXPORT, "csv", admin)
    row = job_row(page, job)
    expect(row).to_have_attribute("data-status", "queued")
    expect(row.locator("td").nth(1)).to_have_text("CSV")
    expect(row.locator(".badge")).to_have_text("Queued")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "0")
    expect(row.get_by_role("link", name="Download")).to_have_count(0)
    jobs_url = f"/projects/{project.id}/exchange/jobs/"
    expect(page.locator("#jobs")).to_have_attribute("hx-get", jobs_url)
    shot(page, "exchange_02_export_queued")

    # when a worker starts and runs the job
    worker("default")
    wait_for(lambda: finished(job.id), WORKER_S, "the export job on the worker")
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error

    # then the page shows it done, full bar, with a download button, and stops polling
    # (reloaded: the polled job list is broken, see test_job_list_polls_until_the_job_is_done)
    page.reload()
    row = job_row(page, job)
    expect(row.locator(".badge")).to_have_text("Done")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(row).to_contain_text("3 / 3")
    expect(page.locator("#jobs")).not_to_have_attribute("hx-get", re.compile(".*"))
    shot(page, "exchange_03_export_done")

    # when she downloads the file
    with page.expect_download() as info:
        row.get_by_role("link", name="Download").click()
    download = info.value

    # then it is the project's CSV, one row per input with its labels
    assert download.suggested_filename == f"birds-csv-{job.id}.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert {r["name"]: r["labels"] for r in rows} == {
        "robin.png": "robin",
        "sparrow.png": "sparrow",
        "empty-feeder.png": "",
    }
    assert {r["name"]: r["statuses"] for r in rows}["robin.png"] == "accepted"
    assert {r["name"]: r["authors"] for r in rows}["sparrow.png"] == admin.username


@pytest.mark.django_db(transaction=True)
def test_job_list_polls_until_the_job_is_done(live_server, new_context, birds, admin, settings):
    project = birds
    # given no worker: the job stays queued until the test runs it
    settings.CELERY_TASK_ALWAYS_EAGER = False
    page = admin_page(new_context, live_server, admin)
    page.goto(exchange_url(live_server, project))
    page.locator("#export-form").get_by_label("Format").select_option("csv")
    page.locator("#export-form").get_by_role("button", name="Export").click()
    job = Job.objects.get(project=project)
    expect(job_row(page, job).locator(".badge")).to_have_text("Queued")

    # while the page polls the job list (wait for a first poll)
    with page.expect_response(lambda r: r.url.endswith("/exchange/jobs/")) as polled:
        pass
    assert polled.value.status == 200
    shot(page, "exchange_04_job_list_after_a_poll")
    expect(job_row(page, job).locator(".badge")).to_have_text("Queued")

    # when the job runs
    assert interchange_job_run(job_id=job.id).status == Job.Status.DONE

    # then the polling page shows it done without a reload
    row = job_row(page, job)
    expect(row.locator(".badge")).to_have_text("Done", timeout=5_000)
    expect(row.get_by_role("link", name="Download")).to_be_visible()


# ---------------------------------------------------------------------------- import


def label_studio_task(task_id: int, image: str, choice: str) -> dict:
    """A task as Label Studio exports it, with one annotation choosing ``choice``."""
    return {
        "id": task_id,
        "data": {"image": image},
        "annotations": [
            {
                "id": 100 + task_id,
                "completed_by": 1,
                "was_cancelled": False,
                "result": [
                    {
                        "id": f"r{task_id}",
                        "from_name": "choice",
                        "to_name": "image",
                        "type": "choices",
                        "value": {"choices": [choice]},
                    }
                ],
            }
        ],
        "predictions": [],
    }


@pytest.fixture
def unlabeled_birds(project, admin):
    wren = concept_create(project=project, name="wren", actor=admin)
    finch = concept_create(project=project, name="finch", actor=admin)
    inputs = {name: add_input(project, name, 30 * i) for i, name in enumerate(BIRD_FILES, 1)}
    return project, wren, finch, inputs


BIRD_FILES = ["wren.png", "finch.png", "gull.png"]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_imports_label_studio_json_and_reads_the_report(
    live_server, new_context, unlabeled_birds, admin, worker, tmp_path
):
    project, wren, finch, inputs = unlabeled_birds
    # given a Label Studio export of the three images: Label Studio's upload URLs, a
    # concept named in another case, and one the project does not have
    tasks = [
        label_studio_task(1, "/data/upload/7/1f2e3d4c-wren.png", "wren"),
        label_studio_task(2, "/data/upload/7/9a8b7c6d-finch.png", "Finch"),
        label_studio_task(3, "/data/upload/7/0badc0de-gull.png", "albatross"),
    ]
    upload = tmp_path / "project-7-at-2026-11-22.json"
    upload.write_text(json.dumps(tasks), encoding="utf-8")
    page = admin_page(new_context, live_server, admin)
    page.goto(exchange_url(live_server, project))

    # when the admin imports it as Label Studio JSON (no worker yet: the job waits)
    form = page.locator("#import-form")
    form.get_by_label("Format").select_option("labelstudio")
    form.get_by_label("File").set_input_files(str(upload))
    form.get_by_role("button", name="Import").click()

    # then the import is listed, queued
    job = Job.objects.get(project=project)
    assert (job.kind, job.format) == (Job.Kind.IMPORT, "labelstudio")
    row = job_row(page, job)
    expect(row.locator("td").nth(1)).to_have_text("Label Studio JSON")
    expect(row.locator(".badge").first).to_have_text("Queued")

    # when a worker runs it
    worker("default")
    wait_for(lambda: finished(job.id), WORKER_S, "the import job on the worker")
    job.refresh_from_db()
    assert job.status == Job.Status.DONE, job.error
    page.reload()

    # then the job is done and its report says what was created and what matched nothing
    row = job_row(page, job)
    expect(row.locator(".badge").first).to_have_text("Done")
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    report = row.locator("td").nth(4)
    lines = report.locator(".import-report li")
    expect(lines.nth(0)).to_have_text("3 records: 3 matched")
    expect(lines.nth(1)).to_have_text("2 annotations with 2 labels (2 accepted)")
    expect(report.locator("li.warning")).to_have_text("1 label named no concept: albatross (1)")
    expect(row.get_by_role("link", name="Download")).to_have_count(0)
    shot(page, "exchange_05_import_done")
    assert job.report["annotations_created"] == 2
    assert job.report["unknown_concepts"] == {"albatross": 1}

    # and the labels are in the project: accepted (an admin's import), authored by her
    imported = Annotation.objects.filter(project=project, source=AnnotationSource.IMPORT)
    assert {
        (a.input.original_name, a.status, a.author_id, *(label.concept for label in a.labels.all()))
        for a in imported.select_related("input").prefetch_related("labels__concept")
    } == {
        ("wren.png", AnnotationStatus.ACCEPTED, admin.id, wren),
        ("finch.png", AnnotationStatus.ACCEPTED, admin.id, finch),
    }
    assert not Annotation.objects.filter(input=inputs["gull.png"]).exists()


# ---------------------------------------------------------------------------- webhooks


class Receiver(ThreadingHTTPServer):
    """Records every POST it gets and answers 200."""

    daemon_threads = True

    def __init__(self):
        self.requests: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(handler):  # noqa: N805
                body = handler.rfile.read(int(handler.headers.get("Content-Length", 0)))
                self.requests.append(
                    {"path": handler.path, "headers": dict(handler.headers), "body": body}
                )
                handler.send_response(200)
                handler.send_header("Content-Length", "2")
                handler.end_headers()
                handler.wfile.write(b"ok")

            def log_message(handler, *args):  # noqa: N805
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_adds_a_webhook_sees_a_delivery_and_removes_it(
    live_server, new_context, birds, admin, annotator, worker, receiver, settings
):
    project = birds
    # given a server that lets webhooks call this machine, and a worker that does too
    settings.LABELING_WEBHOOK_ALLOW_PRIVATE = True
    worker("default", LABELING_WEBHOOK_ALLOW_PRIVATE="1")
    page = admin_page(new_context, live_server, admin)

    # when the admin follows the Webhooks link at the bottom of the Export page
    page.goto(exchange_url(live_server, project))
    page.locator("main").get_by_role("link", name="Webhooks").click()
    expect(page).to_have_url(f"{live_server.url}/projects/{project.id}/webhooks/")
    expect(page.locator("nav.tabs a.active")).to_have_text("Export")
    expect(page.locator("main")).to_contain_text("No webhooks yet.")
    shot(page, "exchange_06_webhooks_empty")

    # and adds the receiver's URL for every event (all are ticked by default)
    events = page.locator("#webhook-form").get_by_role("checkbox")
    expect(events).to_have_count(4)
    for box in events.all():
        expect(box).to_be_checked()
    page.get_by_label("URL").fill(receiver.url)
    page.locator("#webhook-form").get_by_role("button", name="Add").click()

    # then the page shows the signing secret once
    hook = project.webhooks.get()
    expect(page.locator(".alert.success").first).to_have_text(
        "Webhook added. Copy its secret now: it is shown once."
    )
    expect(page.locator("#webhook-secret code").first).to_have_text(hook.secret)
    assert re.fullmatch(r"[0-9a-f]{64}", hook.secret)
    box = page.locator(f"#webhook-{hook.id}")
    expect(box.locator("strong")).to_have_text(receiver.url)
    expect(box).to_contain_text("No deliveries yet.")
    shot(page, "exchange_07_webhook_added")
    page.goto(page.url)
    expect(page.locator("#webhook-secret")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text(hook.secret)

    # when a reviewer decision is made on an annotator's pending annotation
    concept = project.concepts.get(key="robin")
    annotation = Annotation.objects.create(
        project=project,
        input=project.inputs.get(original_name="empty-feeder.png"),
        author=annotator,
        source=AnnotationSource.HUMAN,
        status=AnnotationStatus.PENDING_REVIEW,
        review_tier=1,
    )
    AnnotationLabel.objects.create(annotation=annotation, concept=concept)
    decision = review_decide(
        annotation=annotation, reviewer=admin, action=ReviewDecision.Action.APPROVE
    )

    # then the worker posts the events to the receiver, signed with the secret
    deliveries = WebhookDelivery.objects.filter(webhook=hook)
    wait_for(
        lambda: (
            deliveries.exists()
            and not deliveries.exclude(status=WebhookDelivery.Status.DELIVERED).exists()
        ),
        WORKER_S,
        "the webhook deliveries on the worker",
    )
    sent = {d.event: d for d in deliveries}
    assert "review.decided" in sent
    assert len(receiver.requests) == len(sent)
    for request in receiver.requests:
        headers = request["headers"]
        assert request["path"] == "/hook"
        assert verify(hook.secret, request["body"], headers["X-Portal-Signature"], int(time.time()))
        body = json.loads(request["body"])
        assert body["event"] == headers["X-Portal-Event"]
        assert body["id"] == int(headers["X-Portal-Delivery"]) == sent[body["event"]].id
    review = next(
        json.loads(r["body"]) for r in receiver.requests if b"review.decided" in r["body"]
    )
    assert review["data"]["decision"] == decision.id
    assert review["data"]["action"] == "approve"

    # and after a reload the delivery log lists them delivered, with HTTP 200
    page.reload()
    log = page.locator(f"#webhook-{hook.id} table tr", has_text="review.decided")
    expect(log).to_have_count(1)
    expect(log.locator(".badge")).to_have_text("Delivered")
    expect(log.locator(".badge")).to_have_class(re.compile(r"\bok\b"))
    expect(log.locator("td").nth(2)).to_have_text("1")
    expect(log.locator("td").nth(3)).to_have_text("200")
    expect(page.locator(f"#webhook-{hook.id} table tr")).to_have_count(1 + len(sent))
    shot(page, "exchange_08_webhook_delivered")

    # when she removes the webhook, confirming the browser's question
    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    box.get_by_role("button", name="Remove").click()

    # then it is gone, with its delivery log
    expect(page.locator(".alert.success")).to_have_text(f"Webhook {receiver.url} removed.")
    assert questions == ["Remove this webhook?"]
    expect(page.locator("main")).to_contain_text("No webhooks yet.")
    assert not project.webhooks.exists()
    assert not WebhookDelivery.objects.exists()
    shot(page, "exchange_09_webhook_removed")


# ---------------------------------------------------------------------------- roles


def test_annotator_has_no_export_tab_and_gets_403(live_server, new_context, project, annotator):
    # given an annotator of the project
    page = new_context().new_page()
    login(page, live_server, annotator.username, PASSWORD)

    # then her tabs do not offer Export
    page.goto(f"{live_server.url}/projects/{project.id}/")
    expect(page.locator("nav.tabs a")).to_have_text(["Dashboard", "Label", "Taxonomy", "Inputs"])
    expect(page.locator("nav.tabs").get_by_role("link", name="Export")).to_have_count(0)

    # and typing the addresses of the Export and Webhooks pages is refused
    response = page.goto(exchange_url(live_server, project))
    assert response.status == 403
    shot(page, "exchange_10_annotator_403")
    response = page.goto(f"{live_server.url}/projects/{project.id}/webhooks/")
    assert response.status == 403
