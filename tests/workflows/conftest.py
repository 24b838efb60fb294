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
