"""Model in the loop, in the browser: an admin trains a version from the Models tab and
watches a real worker's progress, reads its metrics, moves a threshold slider, and rolls its
labels back. Annotators may not see the page.

Features are the cheap ``pixels16`` ones so that a run takes seconds; the worker pauses
mid-run (``TRAINING_TEST_PAUSE``) so the page has time to show the run in progress.
"""

import re

import pytest
from browser_helpers import login, shot
from digits import digits_fill
from factories import PASSWORD
from playwright.sync_api import expect
from polling import wait_for

from labeling.models import Annotation, AnnotationSource, AnnotationStatus
from training.models import ModelVersion
from training.services.embeddings import embeddings_compute
from training.services.versions import model_router_ensure, version_queue

Status = ModelVersion.Status
TRAINING_MS = 60_000  # worker start-up, the 3 s pause and the run itself


@pytest.fixture
def digits(settings, project, admin):
    """150 digit images of three classes, 80 % labeled, with their features stored."""
    settings.TRAINING_BACKBONE = "pixels16"
    # The project default (0.99) is out of reach on ~30 eval inputs for some concepts;
    # 0.95 lets every concept label automatically, so routing and rollback have work to do.
    project.target_precision = 0.95
    project.save(update_fields=["target_precision"])
    project, concepts, items = digits_fill(project, admin, classes=3, count=150, labeled=0.8)
    assert embeddings_compute(project_id=project.id) == len(items)
    return project, concepts, items


@pytest.fixture
def trained(transactional_db, digits, admin, settings):
    """Version 1, trained, promoted and routed in this process: Celery is eager here, and on
    a transactional database the run's task is sent at once, on commit. Its 27 eval inputs
    are fewer than the evidence a threshold needs by default, so the bar is lowered."""
    settings.TRAINING_THRESHOLD_MIN_KEPT = 3
    project, concepts, items = digits
    version = version_queue(model=model_router_ensure(project=project), actor=admin)
    version.refresh_from_db()
    assert version.status == Status.READY, version.error
    return project, version, concepts


def models_url(live_server, project) -> str:
    return f"{live_server.url}/projects/{project.id}/models/"


def readout(page, concept) -> tuple[float, str, int]:
    """The threshold readout under a concept's slider: (threshold, precision, coverage %)."""
    box = page.locator(f"#thr-{concept.id} .threshold-readout")
    coverage = box.locator(".thr-coverage").inner_text()
    assert coverage.endswith("%"), coverage
    return (
        float(box.get_attribute("data-threshold")),
        box.locator(".thr-precision").inner_text(),
        int(coverage.rstrip(" %")),
    )


def wait_for_readout(page, concept, threshold: float) -> None:
    """Wait until the server's readout under a concept's slider is the one at ``threshold``."""
    page.wait_for_function(
        """([selector, threshold]) => {
            const box = document.querySelector(selector);
            // the tuned threshold itself is shown exactly; other values snap to the grid
            return box && Math.abs(parseFloat(box.dataset.threshold) - threshold) < 6e-4;
        }""",
        arg=[f"#thr-{concept.id} .threshold-readout", threshold],
    )


def slide(page, concept, value: str) -> None:
    """Move a concept's slider (fill() sets a range and fires its input event) and wait for
    the readout at that threshold."""
    page.get_by_label(f"Threshold for {concept.name}").fill(value)
    wait_for_readout(page, concept, float(value))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_admin_trains_from_the_browser_watches_progress_and_rolls_back(
    live_server, new_context, digits, admin, worker
):
    project, concepts, items = digits
    # given a worker that serves the training queue and pauses half-way through a run
    worker("default,training", TRAINING_BACKBONE="pixels16", TRAINING_TEST_PAUSE="3")
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens the Models tab of a project that has never trained
    page.goto(f"{live_server.url}/projects/{project.id}/")
    page.locator("nav.tabs").get_by_role("link", name="Models").click()
    run = page.locator("#model-run")
    expect(run).to_contain_text("No version yet.")
    expect(page.locator("#embedding-progress")).to_have_count(0)  # all 150 are embedded

    # and clicks "Train now"
    page.locator("#train-now").click()

    # then the run shows up at once with a progress bar, and the button waits for it
    progress = run.get_by_role("progressbar")
    expect(progress).to_be_visible()
    expect(page.locator("#run-status")).to_have_text(re.compile(r"v1 · (Queued|Training)"))
    expect(page.locator("#train-now")).to_be_disabled()
    # and the page, polling, follows the worker's progress to the mid-run pause
    # (one check of the whole partial: the next poll may replace it at any moment)
    page.wait_for_function(
        """() => {
            const run = document.getElementById("model-run");
            return run.querySelector("#run-status")?.textContent.trim() === "v1 · Training"
                && run.querySelector("[role=progressbar]")?.getAttribute("aria-valuenow") === "50"
                && run.querySelector("#run-stage")?.textContent
                    .includes("Paused for a test · 50 %");
        }""",
        timeout=TRAINING_MS,
    )
    shot(page, "models_01_training_in_progress")

    # then the run finishes on its own, the first version goes live and says why
    expect(page.locator("#run-status")).to_have_text("v1 · Ready", timeout=TRAINING_MS)
    expect(page.locator("#run-promotion")).to_have_text(
        "Promoted: the first version of this model."
    )
    expect(page.locator("#train-now")).to_be_enabled()
    expect(progress).to_have_attribute("aria-valuenow", "100")
    version = ModelVersion.objects.get(model__project=project)
    assert (version.status, version.trigger, version.created_by) == (Status.READY, "manual", admin)
    shot(page, "models_02_training_ready")

    # given the worker has routed the unlabeled fifth of the inputs with the live version
    wait_for(
        lambda: ModelVersion.objects.get(id=version.id).routing.get("status") == "done",
        60,
        "routing by the worker",
    )
    version.refresh_from_db()
    assert version.routing["total"] == len(items) - int(len(items) * 0.8)
    automatic = Annotation.objects.filter(model_version=version, source=AnnotationSource.MODEL)
    accepted = automatic.filter(status=AnnotationStatus.ACCEPTED)
    assert accepted.count() == version.routing["auto"] - version.routing["spot_checks"] > 0

    # when the admin opens the version from the versions table
    page.reload()
    versions = page.locator("#versions")
    expect(versions.locator("tbody tr")).to_have_count(1)
    expect(versions.locator("tbody tr").first).to_contain_text("● live")
    versions.get_by_role("link", name="v1", exact=True).click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("Version 1")
    expect(page.locator("#live-badge")).to_be_visible()
    stats = page.locator("#routing-stats .stat")
    expect(stats.nth(0)).to_contain_text(f"{version.routing['auto']}labeled automatically")
    expect(stats.nth(1)).to_contain_text(
        f"{version.routing['doubt']}suggestions waiting for review"
    )
    expect(stats.nth(2)).to_contain_text(f"{version.routing['low']}left to annotators")

    # and rolls its labels back, confirming the browser's question
    questions = []

    def answer(dialog):
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.locator("#rollback").click()

    # then the page says how many labels were taken back, and the version is no longer live
    auto, doubt = version.routing["auto"], version.routing["doubt"]
    taken = auto + doubt
    expect(page.locator(".alert.success", has_text="rolled back")).to_have_text(
        f"Version 1 rolled back: {auto} automatic labels and {doubt} open suggestions taken "
        "back; nothing was kept."
    )
    assert questions == [
        f"Take back {auto} automatic labels and {doubt} open suggestions of version 1?"
    ]
    expect(page.locator("#version-state")).to_have_text("Rolled back")
    expect(page.locator("#live-badge")).to_have_count(0)
    expect(page.get_by_role("heading", level=2).first).to_contain_text("rolled back")
    expect(page.locator("#rollback")).to_have_count(0)
    shot(page, "models_03_version_rolled_back")
    # and none of the model's labels stands any more
    assert not accepted.exists()
    assert not automatic.filter(status=AnnotationStatus.PENDING_REVIEW).exists()
    assert automatic.filter(status=AnnotationStatus.REJECTED).count() == taken


def test_pressing_t_trains_unless_typing(live_server, new_context, digits, admin):
    project, *_ = digits
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)
    page.goto(models_url(live_server, project))
    train_posts = []
    page.on(
        "request",
        lambda r: train_posts.append(r.url) if r.method == "POST" and "/train/" in r.url else None,
    )
    # given the button advertises its shortcut
    expect(page.locator("#train-now")).to_have_attribute("title", re.compile(r"\(T\)"))

    # when the admin types a "t" into a loop setting
    page.get_by_label("Target precision").press("t")

    # then nothing is trained (a request would have left at once: wait a little to be sure)
    page.wait_for_timeout(500)
    assert train_posts == []
    expect(page.locator("#model-run")).to_contain_text("No version yet.")

    # when she presses "t" on the page itself
    page.locator("h2", has_text="The loop").click()
    page.keyboard.press("t")

    # then one run is trained (Celery is eager here: inside the request) and shown
    expect(page.locator("#run-status")).to_have_text("v1 · Ready", timeout=TRAINING_MS)
    assert train_posts == [f"{live_server.url}/projects/{project.id}/models/train/"]
    assert ModelVersion.objects.filter(model__project=project).count() == 1


def test_version_page_shows_curves_confusion_and_live_thresholds(
    live_server, new_context, trained, admin
):
    project, version, concepts = trained
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin follows "see metrics" from the Models tab
    page.goto(models_url(live_server, project))
    page.get_by_role("link", name="see metrics of v1").click()

    # then the per-concept table has one row per digit
    expect(page.get_by_role("heading", level=2).first).to_contain_text("Version 1")
    rows = page.locator("#concept-metrics tbody tr")
    expect(rows.locator("td:first-child")).to_have_text(["0", "1", "2"])
    # and every digit has a precision-recall curve drawn with many points
    charts = page.locator("svg.pr-chart")
    expect(charts).to_have_count(3)
    for chart in charts.all():
        expect(chart).to_be_visible()
        points = chart.locator("polyline.curve").get_attribute("points").split()
        assert len(points) >= 3, points
        assert all(re.fullmatch(r"-?[\d.]+,-?[\d.]+", p) for p in points), points
    # and the confusion matrix is a 3 x 3 heatmap whose cells add up to the eval split
    confusion = page.locator("#confusion-1")
    expect(confusion).to_be_visible()
    expect(confusion.locator("th.row")).to_have_text(["0", "1", "2"])
    cells = [int(n) for n in confusion.locator("td").all_inner_texts()]
    assert len(cells) == 9 and sum(cells) == version.counts["eval_inputs"]
    # and each slider starts at its concept's tuned threshold (to the slider's 0.001 step),
    # with the readout at that point
    for concept in concepts.values():
        slider = page.get_by_label(f"Threshold for {concept.name}")
        tuned = version.thresholds[str(concept.id)]["threshold"]
        assert float(slider.input_value()) == pytest.approx(tuned, abs=0.0006)
        wait_for_readout(page, concept, float(slider.input_value()))
    shot(page, "models_04_version_metrics")

    # when the admin drags the slider of digit 0 to the strictest threshold, then a low one
    concept = concepts[0]
    slide(page, concept, "1")
    strict = readout(page, concept)
    slide(page, concept, "0.05")
    lenient = readout(page, concept)

    # then the readout follows: the low threshold labels at least as many inputs (pixel
    # features saturate some probabilities at exactly 1.0, so it may be the same share)
    assert strict[0] >= 0.999 and lenient[0] == 0.05
    assert lenient[2] >= strict[2]
    assert lenient[1] != "–"  # a precision to read where the model labels something
    # and the chart marks the slider's point on the curve: recall across, precision down
    point = page.locator(f"#slider-point-{concept.id}")
    expect(point).to_have_attribute("visibility", "visible")
    data = page.locator(f"#thr-{concept.id} .threshold-readout")
    recall = float(data.get_attribute("data-recall"))
    precision = float(data.get_attribute("data-precision"))
    assert float(point.get_attribute("cx")) == pytest.approx(recall * 240, abs=0.1)
    assert float(point.get_attribute("cy")) == pytest.approx((1 - precision) * 160, abs=0.1)
    shot(page, "models_05_threshold_moved")

    # when the admin steps the slider with the keyboard
    page.get_by_label(f"Threshold for {concept.name}").press("ArrowRight")

    # then the slider moves one step and the readout with it
    assert page.get_by_label(f"Threshold for {concept.name}").input_value() == "0.051"
    wait_for_readout(page, concept, 0.05)


def test_slider_starts_with_the_coverage_the_table_states(live_server, new_context, trained, admin):
    project, version, concepts = trained
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens a version whose tuned thresholds lie between 0.97 and 1
    page.goto(f"{live_server.url}/projects/{project.id}/models/versions/{version.number}/")

    # then each slider's first readout gives the auto coverage of the per-concept table
    for row, concept in zip(
        page.locator("#concept-metrics tbody tr").all(), concepts.values(), strict=True
    ):
        expect(row.locator("td").first).to_have_text(concept.name)
        stated = row.locator("td").last.inner_text()
        expect(page.locator(f"#thr-{concept.id} .thr-coverage")).to_have_text(stated)


def test_annotator_gets_403_on_the_models_page(live_server, new_context, project, annotator):
    # given an annotator of the project
    page = new_context().new_page()
    login(page, live_server, annotator.username, PASSWORD)

    # when she types the Models address
    response = page.goto(models_url(live_server, project))

    # then it is refused, and her tabs do not offer it
    assert response.status == 403
    page.goto(f"{live_server.url}/projects/{project.id}/")
    expect(page.locator("nav.tabs").get_by_role("link", name="Models")).to_have_count(0)


def test_a_concept_with_too_few_eval_labels_says_so_and_its_slider_labels_nothing(
    live_server, new_context, trained, admin
):
    project, version, concepts = trained
    # given digit 2's threshold was withheld for lack of evidence
    concept = concepts[2]
    withheld = {"threshold": None, "precision": None, "recall": 0.0, "coverage": 0.0, "kept": 0}
    version.thresholds[str(concept.id)] = {**withheld, "missing": "evidence"}
    version.save(update_fields=["thresholds"])
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin opens the version
    page.goto(f"{live_server.url}/projects/{project.id}/models/versions/{version.number}/")

    # then its row says why it has no threshold, and its slider starts where nothing is auto
    row = page.locator("#concept-metrics tbody tr").nth(2)
    expect(row).to_contain_text("not proven yet")
    expect(row.locator("td").last).to_have_text("0 %")
    assert page.get_by_label(f"Threshold for {concept.name}").input_value() == "1"
    expect(page.locator(f"#thr-{concept.id} .thr-coverage")).to_have_text("0 %")
