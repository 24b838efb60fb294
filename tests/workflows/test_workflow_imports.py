"""The workflows core stays pure: no Django, labeling or training import (STYLE.md)."""

import ast
from pathlib import Path

import workflows

FORBIDDEN = ("django", "rest_framework", "labeling", "training", "celery", "torch")


def test_workflows_imports_nothing_from_django_labeling_or_training():
    offenders = []
    for path in Path(workflows.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]

    assert offenders == []
