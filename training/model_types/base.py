"""What every model type declares, and the checks and schema built from it.

A type (one module beside this one) is a key, a title, a description, its fields (name,
type, default, bounds, help), the port types it consumes and produces (the names of
``workflows.ports.PortType``: "image", "embedding", "concepts", later "regions") and its
``train`` / ``predict`` functions. ``payload_schema`` turns the fields into the JSON schema of
the create payload, so the API can list types the way Clarifai's model-type listing does.

No Django and no torch here: a type's module imports torch inside ``train`` / ``predict``
only, so the web process can list the types without loading it.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from training.ml.layout import Layout

# The port type names a type may consume or produce (``workflows.ports.PortType`` values).
PORT_TYPES = frozenset({"image", "embedding", "concepts", "regions", "crops"})
PORT_TYPE_NAMES = sorted(PORT_TYPES)  # as the API schema's enum lists them


class Artifact(Protocol):
    """What ``train`` returns and ``predict`` applies; stored as bytes on the version."""

    def to_bytes(self) -> bytes: ...


class Train(Protocol):
    def __call__(
        self,
        *,
        features: np.ndarray,
        y: np.ndarray,
        known: np.ndarray,
        layout: Layout,
        params: dict,
        progress: Callable[..., None],
        evaluation: tuple[Any, np.ndarray, np.ndarray] | None = None,
    ) -> Artifact:
        """Fit on the train split: ``features`` (n, d) embeddings, or the images (a sequence
        that loads them lazily) for a type that consumes ``image``; targets ``y`` and
        ``known`` (n, width) over ``layout``'s columns, ``params`` cleaned by the type.
        ``evaluation``: the eval split's (features, y, known), for a type that stops early.
        ``progress(fraction, detail="")`` is called now and then (``detail``: the epoch and
        the time left, in words) and may raise to stop the run."""


class TrainRegions(Protocol):
    def __call__(
        self,
        *,
        images: Callable[[int], Any],
        targets: list[tuple[np.ndarray, np.ndarray]],
        num_classes: int,
        params: dict,
        progress: Callable[[float], None],
    ) -> Artifact:
        """Fit a detector: image ``i`` loads with ``images(i)`` (a PIL image as people see
        it), its ``targets[i]`` are normalised (x, y, w, h) boxes (k, 4) and class indexes
        (k,) over ``num_classes``; ``progress`` as for ``Train``."""


Predict = Callable[[Any, Any], Any]  # (artifact or None, a batch of what it consumes)


@dataclass(frozen=True)
class Field:
    name: str
    type: type
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class TypeSpec:
    key: str
    title: str
    description: str
    consumes: tuple[str, ...]
    produces: tuple[str, ...]
    predict: Predict
    train: Train | TrainRegions | None = None  # None: nothing to train (a pre-built model)
    load: Callable[[bytes], Artifact] | None = None  # a stored artifact back (types with one)
    train_stage: str = "Training"  # the version's stage while ``train`` runs
    fields: tuple[Field, ...] = field(default_factory=tuple)
    optional: tuple[str, ...] = ()  # consumed ports a workflow may leave unfed
    # refits in seconds: cross-validated over the train split for threshold evidence
    cheap_refit: bool = False

    def __post_init__(self):
        unknown = sorted(set(self.consumes + self.produces) - PORT_TYPES)
        if unknown:
            raise ValueError(f"{self.key}: unknown port types {', '.join(unknown)}.")

    @property
    def trainable(self) -> bool:
        return self.train is not None

    def defaults(self) -> dict:
        return {f.name: f.default for f in self.fields}

    def clean(self, params: dict | None) -> dict:
        """The parameters with defaults filled in; ValueError names what is wrong."""
        params = dict(params or {})
        known = {f.name for f in self.fields}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ValueError(f"Unknown parameters for {self.key}: {', '.join(unknown)}.")
        cleaned = self.defaults()
        for f in self.fields:
            if f.name not in params:
                continue
            value = params[f.name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{f.name} must be a number.")
            # An int is finite (and math.isfinite would overflow on one past a float's range).
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number.")
            if f.type is int and int(value) != value:
                raise ValueError(f"{f.name} must be a whole number.")
            if (f.minimum is not None and value < f.minimum) or (
                f.maximum is not None and value > f.maximum
            ):
                raise ValueError(f"{f.name} must be between {f.minimum} and {f.maximum}.")
            cleaned[f.name] = f.type(value)
        return cleaned

    def payload_schema(self) -> dict:
        properties = {}
        for f in self.fields:
            prop = {
                "type": "integer" if f.type is int else "number",
                "default": f.default,
                "description": f.help,
            }
            if f.minimum is not None:
                prop["minimum"] = f.minimum
            if f.maximum is not None:
                prop["maximum"] = f.maximum
            properties[f.name] = prop
        return {
            "type": "object",
            "required": ["name", "type"],
            "properties": {
                "name": {"type": "string", "maxLength": 100},
                "type": {"type": "string", "const": self.key},
                "params": {
                    "type": "object",
                    "properties": properties,
                    "additionalProperties": False,
                },
            },
        }
