from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from labeling import hooks
        from webhooks.services import (
            webhooks_emit_annotation_accepted,
            webhooks_emit_review_decided,
            webhooks_emit_version,
        )

        # the deliveries are rows written in the announcing transaction; their tasks are sent
        # after it commits (nothing is sent if it rolls back)
        hooks.subscribe(
            hooks.ANNOTATION_ACCEPTED,
            lambda *, annotation, **_: webhooks_emit_annotation_accepted(annotation=annotation),
        )
        hooks.subscribe(
            hooks.REVIEW_DECIDED,
            lambda *, decision, **_: webhooks_emit_review_decided(decision=decision),
        )
        hooks.subscribe(
            hooks.MODEL_VERSION_CHANGED,
            lambda *, version, event, **_: webhooks_emit_version(version=version, event=event),
        )
