"""The web process never imports torch: pages stay fast and a web host needs no ML stack."""

import subprocess
import sys
from pathlib import Path

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


def test_web_process_imports_no_torch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=REPO,
        env={
            "PORTAL_DATA_DIR": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "PATH": "/usr/bin:/bin",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]
