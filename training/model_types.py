"""The model types a project can create, with the parameters each takes.

A type is a name, a description, whether it trains, and its fields (name, type, default,
bounds, help); ``payload_schema`` turns them into the JSON schema of the create payload, so
the API can list types the way Clarifai's model-type listing does. New types (a fine-tuned
``deep-classifier``, a detector, a clusterer, an anomaly detector) are added here with the
service that trains them.
"""

import math
from dataclasses import dataclass, field

from training.models import ModelType


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
    trainable: bool
    fields: tuple[Field, ...] = field(default_factory=tuple)

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


CONTEXT_CLASSIFIER = TypeSpec(
    key=ModelType.CONTEXT_CLASSIFIER,
    title="Context classifier",
    description=(
        "A head trained on frozen EfficientNet-Lite0 embeddings: softmax per exclusive group, "
        "sigmoid per multi-label concept. Trains in seconds on a CPU."
    ),
    trainable=True,
    fields=(
        Field("hidden", int, 0, "Units of a hidden layer; 0 trains a linear head.", 0, 4096),
        Field("steps", int, 300, "Optimisation steps.", 10, 20000),
        Field("learning_rate", float, 0.01, "AdamW learning rate.", 1e-5, 1.0),
        Field("weight_decay", float, 1e-3, "AdamW weight decay (regularisation).", 0.0, 1.0),
        Field("batch_size", int, 4096, "Inputs per optimisation step.", 16, 65536),
    ),
)

EMBEDDER = TypeSpec(
    key=ModelType.EMBEDDER,
    title="Embedder",
    description=(
        "Returns the backbone's 1280-d vector of an input; powers “find similar”. Nothing to train."
    ),
    trainable=False,
)

TYPES: dict[str, TypeSpec] = {t.key: t for t in (CONTEXT_CLASSIFIER, EMBEDDER)}


def model_type(key: str) -> TypeSpec:
    try:
        return TYPES[key]
    except KeyError:
        raise ValueError(f"Unknown model type {key!r}; known: {', '.join(TYPES)}.") from None
