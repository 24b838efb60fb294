"""Webhook and WebhookDelivery move to the webhooks app: removed from labeling's state only.

The tables stay (``labeling_webhook``, ``labeling_webhookdelivery``, rows untouched);
webhooks/migrations/0001 takes them over in its state and depends on this migration, so
labeling's migrations never depend on the webhooks app.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("labeling", "0014_upload_batch_folder_labels"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="WebhookDelivery"),
                migrations.DeleteModel(name="Webhook"),
            ],
            database_operations=[],
        ),
    ]
