from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from django.conf import settings
        from django.urls import register_converter
        from PIL import Image

        from labeling.ids import IdConverter

        # ``<id:...>`` in every URL conf: an id too big for the database is a 404, not a 500.
        register_converter(IdConverter, "id")

        # Pillow warns past this many pixels and refuses past twice as many; ingest turns the
        # warning into a refusal too.
        Image.MAX_IMAGE_PIXELS = settings.LABELING_MAX_IMAGE_PIXELS
