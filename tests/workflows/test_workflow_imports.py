"""The workflows core stays pure: no Django, labeling or training import (STYLE.md).

The app around it (models, services, runners, API, views, tasks) is Django code that may
import labeling and training; the core is the modules below and the operators."""

import ast
from pathlib import Path

import workflows

FORBIDDEN = ("django", "rest_framework", "labeling", "training", "celery", "torch")
CORE = ("spec.py", "ports.py", "params.py", "validate.py", "engine.py", "default.py", "outputs.py")


def core_files() -> list[Path]:
    root = Path(workflows.__file__).parent
    return [root / name for name in CORE] + sorted((root / "operators").glob("*.py"))


def test_workflows_imports_nothing_from_django_labeling_or_training():
    offenders = []
    for path in core_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]

    assert offenders == []


def test_labeling_and_training_import_nothing_from_workflows():
    root = Path(workflows.__file__).parent.parent
    offenders = []
    for app in ("labeling", "training"):
        for path in (root / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module or ""]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                offenders += [f"{path}: {n}" for n in names if n.split(".")[0] == "workflows"]

    assert offenders == []
