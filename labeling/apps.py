from django.apps import AppConfig


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from django.conf import settings
        from PIL import Image

        # Pillow warns past this many pixels and refuses past twice as many; ingest turns the
        # warning into a refusal too.
        Image.MAX_IMAGE_PIXELS = settings.LABELING_MAX_IMAGE_PIXELS
