"""A deep classifier in the browser: an admin creates one from the Models tab's "New model"
form, a version is fine-tuned on the digits (in this process: Celery is eager here), and its
version page shows the shared metrics and the training curves per epoch."""

import pytest
from browser_helpers import login, shot
from digits import digits_fill
from factories import PASSWORD
from playwright.sync_api import expect

from training.models import MLModel, ModelVersion
from training.services.versions import version_queue


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.django_db(transaction=True)
def test_admin_creates_a_deep_classifier_and_reads_its_curves(
    live_server, new_context, project, admin
):
    digits_fill(project, admin, classes=2, count=40, labeled=1.0)
    page = new_context().new_page()
    login(page, live_server, admin.username, PASSWORD)

    # when the admin creates a deep classifier from the Models tab
    page.goto(f"{live_server.url}/projects/{project.id}/models/")
    form = page.locator("#new-model")
    form.get_by_label("Name").fill("Deep digits")
    form.get_by_label("Type").select_option(label="Deep classifier")
    form.get_by_role("button", name="Create").click()

    # then it is listed among the other models, with nothing trained yet
    card = page.locator("#classifiers")
    expect(card).to_contain_text("Deep digits")
    expect(card).to_contain_text("No versions yet.")
    expect(card.get_by_role("button", name="Train Deep digits now")).to_be_visible()
    shot(page, "deep_classifier_models_tab")

    # given a version fine-tuned briefly (two epochs of 64 px digits)
    model = MLModel.objects.get(project=project, name="Deep digits")
    model.params = {**model.params, "image_size": 64, "epochs": 2, "batch_size": 16}
    model.save(update_fields=["params"])
    version = version_queue(model=model, actor=admin)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.READY, version.error

    # when the admin opens it from the card
    page.reload()
    card.get_by_role("link", name="v1").click()

    # then the page shows the shared per-concept metrics and the curves of both epochs
    expect(page.locator("#concept-metrics")).to_be_visible()
    curves = page.locator("#training-curves")
    expect(curves).to_contain_text("best epoch")
    expect(curves.locator("polyline.loss")).to_have_count(1)
    expect(curves.locator("polyline.f1")).to_have_count(1)
    expect(curves.locator("#curve-table tbody tr")).to_have_count(2)
    expect(page.locator("#live-badge")).to_be_visible()
    shot(page, "deep_classifier_version_curves")
