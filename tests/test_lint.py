"""The code stays ruff-clean (STYLE.md); CI runs this with the rest of the suite."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ruff_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_license_is_an_spdx_string_so_installs_warn_of_nothing():
    # setuptools deprecates the TOML table form (``license = {text = ...}``) with a warning
    # on every install; an SPDX expression is the current form.
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert isinstance(project["license"], str)
