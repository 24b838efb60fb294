"""Service tests of the model loop run on real digit images with cheap pixel features."""

import pytest
from digits import digits_fill


@pytest.fixture(autouse=True)
def _pixel_features(settings):
    """Service tests use the cheap pixel features; the backbone has its own tests."""
    settings.TRAINING_BACKBONE = "pixels16"


@pytest.fixture
def digits_project(project, admin):
    """Returns a builder: digits_project(classes=3, count=300, labeled=0.5) →
    (project, concepts by digit, [(input, digit)])."""

    def build(classes: int = 3, count: int = 300, labeled: float = 0.5):
        return digits_fill(project, admin, classes=classes, count=count, labeled=labeled)

    return build
