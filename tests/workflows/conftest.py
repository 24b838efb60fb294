"""Workflows are tested without a database: fake model types and fake model runners."""

import pytest

from workflows.operators import registry
from workflows.ports import PortType
from workflows.spec import ModelTypePorts, Port

MODEL_TYPES = (
    ModelTypePorts(
        "embedder", (Port("image", PortType.IMAGE),), (Port("embedding", PortType.EMBEDDING),)
    ),
    ModelTypePorts(
        "context-classifier",
        (Port("embedding", PortType.EMBEDDING),),
        (Port("concepts", PortType.CONCEPTS),),
    ),
    ModelTypePorts(
        "visual-detector", (Port("image", PortType.IMAGE),), (Port("regions", PortType.REGIONS),)
    ),
)


@pytest.fixture
def kinds():
    return registry(MODEL_TYPES)


@pytest.fixture
def live_digits(db, project, admin, settings):
    """Returns a builder: live_digits(count=150) -> (project, model, version, concepts,
    unlabeled inputs): digits of 3 classes, 60 % labeled, embedded with the cheap pixel
    features, the routing classifier trained and live."""
    from digits import digits_fill

    from labeling.models import InputStatus
    from training.models import ModelVersion
    from training.services.embeddings import embeddings_compute
    from training.services.versions import model_router_ensure, version_queue, version_train

    settings.TRAINING_BACKBONE = "pixels16"

    def build(count: int = 150):
        _, concepts, items = digits_fill(project, admin, classes=3, count=count, labeled=0.6)
        embeddings_compute(project_id=project.id)
        model = model_router_ensure(project=project)
        model.params = {"steps": 60, "learning_rate": 0.05}
        model.save(update_fields=["params"])
        version = version_train(version_id=version_queue(model=model, actor=admin).id)
        assert version.status == ModelVersion.Status.READY, version.error
        model.refresh_from_db()
        unlabeled = [i for i, _ in items if i.status == InputStatus.UNLABELED]
        return project, model, version, concepts, unlabeled

    return build
