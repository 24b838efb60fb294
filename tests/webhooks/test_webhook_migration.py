"""Webhooks moving out of labeling keep their rows: on a database migrated before the move,
with a webhook and a delivery in labeling's tables, migrating forward hands the same rows
(and their content types) to the webhooks app, and nothing else is left to migrate."""

import io

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from webhooks.models import Webhook, WebhookDelivery


def the_move(executor: MigrationExecutor) -> tuple[tuple, tuple]:
    """(labeling's migration that drops the models from its state, the one before it)."""
    takeover = executor.loader.get_migration("webhooks", "0001_initial")
    (drop,) = [d for d in takeover.dependencies if d[0] == "labeling"]
    (before,) = [d for d in executor.loader.get_migration(*drop).dependencies]
    return drop, before


@pytest.mark.django_db(transaction=True)
def test_migrating_an_existing_database_keeps_its_webhooks_and_deliveries(project, admin):
    # given a database as it was before the move, holding a webhook with one delivery
    executor = MigrationExecutor(connection)
    drop, before = the_move(executor)
    executor.migrate([before, ("webhooks", None)])
    old = executor.loader.project_state([before]).apps
    OldWebhook = old.get_model("labeling", "Webhook")  # noqa: N806
    OldDelivery = old.get_model("labeling", "WebhookDelivery")  # noqa: N806
    hook = OldWebhook.objects.create(
        project_id=project.id, url="https://hooks.example.com/in", events=["review.decided"]
    )
    OldDelivery.objects.create(webhook=hook, event="review.decided", payload={"id": 1})
    ContentType.objects.filter(app_label="webhooks").delete()
    old_type = ContentType.objects.get_or_create(app_label="labeling", model="webhook")[0]

    # when it is migrated forward
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    # then the webhooks app reads the same rows, under the same content type
    moved = Webhook.objects.get()
    assert (moved.id, moved.url, moved.project_id) == (hook.id, hook.url, project.id)
    assert list(moved.deliveries.values_list("event", "payload")) == [("review.decided", {"id": 1})]
    assert WebhookDelivery._meta.db_table == "labeling_webhookdelivery"
    assert ContentType.objects.get_for_model(Webhook).id == old_type.id
    # and the models' state matches the code: makemigrations has nothing to write
    out = io.StringIO()
    try:
        # the two apps the move concerns (other tests may leave other apps' state touched)
        call_command("makemigrations", "labeling", "webhooks", "--check", "--dry-run", stdout=out)
    except SystemExit:
        raise AssertionError(out.getvalue()) from None
