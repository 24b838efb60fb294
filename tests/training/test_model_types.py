"""The model types a project can create: their parameters, checks and create-payload schema.

No database: ``training.model_types`` only needs Django's settings (it names the types by
``training.models.ModelType``).
"""

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from training.ml import pixels
from training.ml.head import Head, HeadParams, train_head
from training.ml.layout import Layout
from training.model_types import (
    CONTEXT_CLASSIFIER,
    EMBEDDER,
    FACE_DETECTOR,
    TYPES,
    TypeSpec,
    model_type,
)
from training.model_types.context_classifier import head_params
from training.models import ModelType
from workflows.default import default_workflow
from workflows.operators import registry
from workflows.ports import PortType
from workflows.spec import ModelTypePorts, Port
from workflows.validate import validate_document

DEFAULTS = {
    "hidden": 0,
    "steps": 300,
    "learning_rate": 0.01,
    "weight_decay": 1e-3,
    "batch_size": 4096,
    "crops": 0,  # 1: a classifier on crops
}


def test_given_the_registry_then_it_holds_the_classifier_the_embedder_and_the_detectors():
    assert set(TYPES) == {
        ModelType.CONTEXT_CLASSIFIER,
        ModelType.DEEP_CLASSIFIER,
        ModelType.EMBEDDER,
        ModelType.VISUAL_DETECTOR,
        ModelType.FACE_DETECTOR,
    }
    assert model_type("visual-detector").produces == ("regions",)
    deep = model_type("deep-classifier")
    assert deep.trainable and (deep.consumes, deep.produces) == (("image",), ("concepts",))
    assert set(TYPES) == set(ModelType.values)  # every type can be stored on a model
    assert model_type("context-classifier") is CONTEXT_CLASSIFIER
    assert model_type("embedder") is EMBEDDER
    assert model_type("face-detector") is FACE_DETECTOR
    assert CONTEXT_CLASSIFIER.trainable
    assert not EMBEDDER.trainable
    assert not FACE_DETECTOR.trainable


def test_given_an_unknown_type_then_model_type_refuses_and_lists_the_known_ones():
    known = "context-classifier, deep-classifier, embedder, visual-detector, face-detector"
    with pytest.raises(ValueError, match=f"'detector'.*{known}"):
        model_type("detector")


# ---------------------------------------------------------------------------- clean


@pytest.mark.parametrize("params", [None, {}])
def test_given_no_params_then_clean_gives_the_defaults(params):
    assert CONTEXT_CLASSIFIER.clean(params) == DEFAULTS


def test_given_some_params_then_clean_keeps_them_and_fills_in_the_rest():
    cleaned = CONTEXT_CLASSIFIER.clean({"hidden": 16, "learning_rate": 0.05})

    assert cleaned == {**DEFAULTS, "hidden": 16, "learning_rate": 0.05}
    # the trainer takes the cleaned parameters (``crops`` says what the features are of)
    assert head_params(cleaned) == HeadParams(
        hidden=16, steps=300, learning_rate=0.05, weight_decay=1e-3, batch_size=4096
    )


def test_given_whole_floats_and_ints_then_clean_converts_to_the_fields_type():
    cleaned = CONTEXT_CLASSIFIER.clean({"steps": 500.0, "learning_rate": 1, "weight_decay": 0})

    assert cleaned["steps"] == 500 and type(cleaned["steps"]) is int
    assert cleaned["learning_rate"] == 1.0 and type(cleaned["learning_rate"]) is float
    assert type(cleaned["weight_decay"]) is float


def test_given_the_caller_dict_then_clean_does_not_change_it():
    params = {"hidden": 8}

    CONTEXT_CLASSIFIER.clean(params)

    assert params == {"hidden": 8}


def test_given_unknown_params_then_clean_names_them():
    with pytest.raises(ValueError, match="Unknown parameters for context-classifier: depth, lr"):
        CONTEXT_CLASSIFIER.clean({"lr": 0.1, "depth": 3, "hidden": 4})


def test_given_any_param_then_the_embedder_refuses_it():
    assert EMBEDDER.clean(None) == {}
    with pytest.raises(ValueError, match="hidden"):
        EMBEDDER.clean({"hidden": 4})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("hidden", True),
        ("steps", False),
        ("learning_rate", True),
        ("steps", "300"),
        ("learning_rate", "0.1"),
        ("hidden", None),
        ("batch_size", [64]),
    ],
)
def test_given_a_value_that_is_not_a_number_then_clean_names_the_field(name, value):
    with pytest.raises(ValueError, match=f"^{name} must be a number"):
        CONTEXT_CLASSIFIER.clean({name: value})


def test_given_a_fraction_for_a_whole_number_field_then_clean_names_the_field():
    with pytest.raises(ValueError, match="^steps must be a whole number"):
        CONTEXT_CLASSIFIER.clean({"steps": 300.5})


@pytest.mark.parametrize(
    ("name", "value", "bounds"),
    [
        ("hidden", -1, "0 and 4096"),
        ("hidden", 4097, "0 and 4096"),
        ("steps", 9, "10 and 20000"),
        ("steps", 20001, "10 and 20000"),
        ("learning_rate", 0.0, "1e-05 and 1.0"),
        ("learning_rate", 1.5, "1e-05 and 1.0"),
        ("weight_decay", -0.1, "0.0 and 1.0"),
        ("batch_size", 8, "16 and 65536"),
    ],
)
def test_given_a_value_out_of_range_then_clean_names_the_field_and_its_bounds(name, value, bounds):
    with pytest.raises(ValueError, match=f"^{name} must be between {bounds}"):
        CONTEXT_CLASSIFIER.clean({name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [("hidden", 0), ("hidden", 4096), ("steps", 10), ("steps", 20000), ("learning_rate", 1.0)],
)
def test_given_a_value_on_a_bound_then_clean_accepts_it(name, value):
    assert CONTEXT_CLASSIFIER.clean({name: value})[name] == value


def test_given_nan_for_a_float_field_then_clean_refuses_it():
    with pytest.raises(ValueError, match="^learning_rate"):
        CONTEXT_CLASSIFIER.clean({"learning_rate": float("nan")})


def test_given_infinity_for_a_whole_number_field_then_clean_names_the_field():
    with pytest.raises(ValueError, match="^steps"):
        CONTEXT_CLASSIFIER.clean({"steps": float("inf")})


# ---------------------------------------------------------------------------- payload_schema


def test_given_the_classifier_then_its_schema_lists_every_param_with_default_and_bounds():
    schema = CONTEXT_CLASSIFIER.payload_schema()

    assert schema["type"] == "object"
    assert schema["required"] == ["name", "type"]
    assert schema["properties"]["type"] == {"type": "string", "const": "context-classifier"}
    params = schema["properties"]["params"]
    assert params["type"] == "object"
    assert params["additionalProperties"] is False
    properties = params["properties"]
    assert set(properties) == set(DEFAULTS)
    assert {name: p["default"] for name, p in properties.items()} == DEFAULTS
    assert properties["steps"]["type"] == "integer"
    assert properties["learning_rate"]["type"] == "number"
    assert (properties["hidden"]["minimum"], properties["hidden"]["maximum"]) == (0, 4096)
    assert all(p["description"] for p in properties.values())
    # it goes out as JSON as it is
    assert json.loads(json.dumps(schema)) == schema


def test_given_the_embedder_then_its_schema_takes_no_params():
    params = EMBEDDER.payload_schema()["properties"]["params"]

    assert params["properties"] == {}
    assert params["additionalProperties"] is False


def test_given_the_schema_then_a_json_schema_validator_agrees_with_clean():
    jsonschema = pytest.importorskip("jsonschema")
    schema = CONTEXT_CLASSIFIER.payload_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    good = {"name": "Deeper", "type": "context-classifier", "params": {"hidden": 64}}
    assert validator.is_valid(good)
    assert validator.is_valid({**good, "params": DEFAULTS})
    for params in ({"steps": 5}, {"depth": 2}, {"hidden": 1.5}, {"learning_rate": "fast"}):
        assert not validator.is_valid({**good, "params": params})
        with pytest.raises(ValueError):
            CONTEXT_CLASSIFIER.clean(params)
    assert not validator.is_valid({**good, "type": "embedder"})
    assert not validator.is_valid({"type": "context-classifier"})


# ---------------------------------------------------------------------------- ports


def test_given_each_type_then_it_says_what_it_consumes_and_produces():
    assert (CONTEXT_CLASSIFIER.consumes, CONTEXT_CLASSIFIER.produces) == (
        ("embedding",),
        ("concepts",),
    )
    assert (EMBEDDER.consumes, EMBEDDER.produces) == (("image", "crops"), ("embedding",))
    assert EMBEDDER.optional == ("crops",)
    assert (FACE_DETECTOR.consumes, FACE_DETECTOR.produces) == (("image",), ("regions",))


def test_given_every_type_then_its_ports_are_port_types_the_workflows_know():
    known = {p.value for p in PortType}
    for spec in TYPES.values():
        assert spec.consumes and spec.produces, spec.key
        assert set(spec.consumes + spec.produces) <= known, spec.key


def ports_of(spec: TypeSpec) -> ModelTypePorts:
    def ports(names):
        return tuple(Port(n, PortType(n), required=n not in spec.optional) for n in names)

    return ModelTypePorts(spec.key, ports(spec.consumes), ports(spec.produces))


def test_given_the_declared_ports_then_the_default_workflow_validates_against_them():
    document = default_workflow(
        embedder={"type": EMBEDDER.key, "version": "live"},
        classifier={"type": CONTEXT_CLASSIFIER.key, "id": 1, "version": "live"},
        doubt_band=0.1,
        spot_check_rate=0.02,
    )

    kinds = registry([ports_of(spec) for spec in TYPES.values()])

    assert validate_document(document, kinds) == []


def test_given_a_port_type_nobody_knows_then_a_type_is_refused_by_name():
    with pytest.raises(ValueError, match="detector: unknown port types pixels"):
        TypeSpec(
            key="detector",
            title="Detector",
            description="",
            consumes=("pixels",),
            produces=("regions",),
            predict=lambda artifact, values: values,
        )


# ---------------------------------------------------------------------------- train, predict

LAYOUT = Layout(concept_ids=(11, 12, 13), groups=((0, 1),), singles=(2,))


def separable(n=60, seed=0):
    """Features whose first two dimensions say the group's option, the third the single."""
    rng = np.random.default_rng(seed)
    option = rng.integers(0, 2, n)
    single = rng.integers(0, 2, n)
    x = rng.normal(0, 0.1, (n, 8)).astype(np.float32)
    x[np.arange(n), option] += 2.0
    x[:, 2] += 2.0 * single
    labels = [{11 + int(o)} | ({13} if s else set()) for o, s in zip(option, single, strict=True)]
    return x, labels


def test_given_the_classifier_then_train_fits_a_head_with_the_cleaned_params():
    features, labels = separable()
    y, known = LAYOUT.targets(labels)
    seen = []

    head = CONTEXT_CLASSIFIER.train(
        features=features,
        y=y,
        known=known,
        layout=LAYOUT,
        params=CONTEXT_CLASSIFIER.clean({"hidden": 8, "steps": 200, "learning_rate": 0.05}),
        progress=seen.append,
    )

    assert isinstance(head, Head) and len(head.layers) == 2  # one hidden layer
    assert seen and seen[0] == 0.0
    probs = CONTEXT_CLASSIFIER.predict(head, features)
    assert probs.shape == (60, 3)
    assert ((probs[:, :2] > 0.5) == (y[:, :2] > 0.5)).mean() > 0.95
    assert ((probs[:, 2] > 0.5) == (y[:, 2] > 0.5)).mean() > 0.95


def test_given_a_head_then_the_classifier_predicts_its_probabilities():
    features, labels = separable(seed=1)
    head = train_head(features, *LAYOUT.targets(labels), LAYOUT, HeadParams(steps=20))

    probs = CONTEXT_CLASSIFIER.predict(head, features)

    np.testing.assert_array_equal(probs, head.probabilities(features))
    np.testing.assert_allclose(probs[:, :2].sum(axis=1), 1.0, rtol=1e-5)


def test_given_the_embedder_then_it_cannot_train_and_predicts_the_backbones_vectors(settings):
    settings.TRAINING_BACKBONE = pixels.NAME
    images = [Image.new("L", (20, 12), 40), Image.new("RGB", (8, 8), (200, 10, 10))]

    vectors = EMBEDDER.predict(None, images)

    assert EMBEDDER.train is None and not EMBEDDER.trainable
    assert vectors.shape == (2, pixels.DIM)
    np.testing.assert_array_equal(vectors, pixels.embed(images))
    np.testing.assert_array_equal(EMBEDDER.predict(pixels.NAME, images), vectors)


def test_given_a_spec_without_train_then_it_is_not_trainable():
    assert not dataclasses.replace(CONTEXT_CLASSIFIER, train=None).trainable


# ---------------------------------------------------------------------------- face detector

FACE_DEFAULTS = {
    "concept": 0,
    "min_face": 20,
    "pnet_threshold": 0.6,
    "rnet_threshold": 0.7,
    "onet_threshold": 0.7,
}


def test_given_no_params_then_the_face_detector_takes_mtcnns_defaults():
    assert FACE_DETECTOR.clean(None) == FACE_DEFAULTS
    cleaned = FACE_DETECTOR.clean({"min_face": 40.0, "onet_threshold": 0.9})
    assert cleaned == {**FACE_DEFAULTS, "min_face": 40, "onet_threshold": 0.9}
    assert type(cleaned["min_face"]) is int


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("min_face", 11, "min_face must be between 12 and 4096"),
        ("min_face", 20.5, "min_face must be a whole number"),
        ("pnet_threshold", 0.05, "pnet_threshold must be between 0.1 and 0.999"),
        ("rnet_threshold", 1.0, "rnet_threshold must be between 0.1 and 0.999"),
        ("onet_threshold", "high", "onet_threshold must be a number"),
        ("iou", 0.5, "Unknown parameters for face-detector: iou"),
    ],
)
def test_given_a_bad_face_detector_param_then_clean_names_it(name, value, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        FACE_DETECTOR.clean({name: value})


def test_given_the_face_detector_then_its_schema_lists_each_param_with_help_and_bounds():
    properties = FACE_DETECTOR.payload_schema()["properties"]["params"]["properties"]

    assert {name: p["default"] for name, p in properties.items()} == FACE_DEFAULTS
    assert properties["min_face"]["type"] == "integer"
    assert (properties["min_face"]["minimum"], properties["min_face"]["maximum"]) == (12, 4096)
    assert properties["onet_threshold"]["type"] == "number"
    assert all(p["description"] for p in properties.values())


def test_given_images_then_the_face_detector_predicts_boxes_with_its_params():
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    flat = Image.new("RGB", (64, 64), (30, 30, 30))

    found = FACE_DETECTOR.predict(None, [astronaut, flat])
    too_small = FACE_DETECTOR.predict({"min_face": 200}, [astronaut])

    assert [len(boxes) for boxes, _ in found] == [1, 0]
    x, y, w, h = found[0][0][0]
    assert 0.3 < x < 0.4 and 0.1 < y < 0.15 and 0.15 < w < 0.2 and 0.2 < h < 0.25
    assert len(too_small[0][0]) == 0
    with pytest.raises(ValueError, match="min_face must be between"):
        FACE_DETECTOR.predict({"min_face": 4}, [astronaut])
