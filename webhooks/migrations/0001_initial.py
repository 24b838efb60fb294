"""Webhook and WebhookDelivery, taken over from labeling (0015 removed them from its state).

State only: the tables ``labeling_webhook`` and ``labeling_webhookdelivery`` already exist
(labeling 0012 made them) and keep their names and rows. Their content types move too, so
permissions given on them stay attached.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("webhook", "webhookdelivery")


def _content_types_move(apps, source: str, target: str) -> None:
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not content_type.objects.filter(app_label=target, model=model).exists():
            content_type.objects.filter(app_label=source, model=model).update(app_label=target)


def content_types_forward(apps, schema_editor) -> None:
    _content_types_move(apps, "labeling", "webhooks")


def content_types_backward(apps, schema_editor) -> None:
    _content_types_move(apps, "webhooks", "labeling")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("labeling", "0015_webhooks_to_their_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Webhook",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("url", models.URLField(max_length=500)),
                        (
                            "events",
                            models.JSONField(
                                default=list, help_text="Event names this URL receives."
                            ),
                        ),
                        (
                            "secret",
                            models.CharField(
                                help_text="HMAC-SHA256 key of the signature header.",
                                max_length=64,
                            ),
                        ),
                        ("active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="webhooks",
                                to="labeling.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "labeling_webhook",
                        "ordering": ["id"],
                    },
                ),
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("event", models.CharField(max_length=40)),
                        ("payload", models.JSONField()),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("delivered", "Delivered"),
                                    ("failed", "Failed"),
                                ],
                                default="pending",
                                max_length=10,
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("response_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("error", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "webhook",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="webhooks.webhook",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "labeling_webhookdelivery",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["webhook", "created_at"],
                                name="labeling_we_webhook_80630f_idx",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_forward, content_types_backward),
    ]
