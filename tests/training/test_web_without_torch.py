"""The web process never imports torch: pages stay fast and a web host needs no ML stack."""

import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
import django
from django.conf import settings
django.setup()
from portal.wsgi import application  # noqa: F401
from django.urls import get_resolver
get_resolver().url_patterns  # imports every view module, the model pages included
import training.views, training.selectors, training.services.routing  # noqa: F401
import training.services.versions, training.services.priorities  # noqa: F401
import training.similar, training.services.image_search  # noqa: F401
import training.services.search_index  # noqa: F401
print("torch" in sys.modules, "timm" in sys.modules)
"""


def web_python(script: str, data_dir, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``script`` in a fresh process set up as the web server's is."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env={
            "PORTAL_DATA_DIR": str(data_dir),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PATH": "/usr/bin:/bin",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_web_process_imports_no_torch(tmp_path):
    result = web_python(SCRIPT, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


PREDICT = """
import sys
import django
django.setup()
from PIL import Image
from training.ml.features import embedder_without_torch
embed = embedder_without_torch("efficientnet_lite0")
vector = embed([Image.open(sys.argv[1])])[0]
print("torch" in sys.modules, "timm" in sys.modules, " ".join(f"{v:.6f}" for v in vector))
"""


def test_web_process_embeds_with_a_cached_onnx_export_and_still_no_torch(tmp_path, image_bytes):
    from django.conf import settings

    from training.ml import backbone

    image = tmp_path / "upload.png"
    image.write_bytes(image_bytes(size=(40, 30), color=(200, 40, 90)))
    backbone.configure(runtime="onnx", cache_dir=settings.TRAINING_MODEL_CACHE)
    backbone.forward(backbone.preprocess([Image.open(image)]))  # a worker's first embedding
    assert backbone.runtime_in_use() == "onnx"
    expected = backbone.forward_torch(backbone.preprocess([Image.open(image)]))[0]

    result = web_python(
        PREDICT, tmp_path, str(image), TRAINING_MODEL_CACHE=str(settings.TRAINING_MODEL_CACHE)
    )

    assert result.returncode == 0, result.stderr
    torch_loaded, timm_loaded, *values = result.stdout.split()
    assert (torch_loaded, timm_loaded) == ("False", "False")
    np.testing.assert_allclose(np.array(values, dtype=np.float32), expected, atol=1e-3)
