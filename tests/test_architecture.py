"""Dependencies point one way (DESIGN.md, Layout): ``training``, ``workflows`` and
``webhooks`` build on ``labeling``; ``workflows`` also on ``training``. Labeling announces
what happened through ``labeling/hooks.py`` instead of importing them."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# app -> the apps it must never import
FORBIDDEN = {
    "labeling": {"training", "workflows", "webhooks"},
    "training": {"workflows", "webhooks"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("app", sorted(FORBIDDEN))
def test_an_app_never_imports_the_apps_built_on_it(app):
    offenders = []
    for path in sorted((REPO / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        bad = imported_packages(path) & FORBIDDEN[app]
        if bad:
            offenders.append(f"{path.relative_to(REPO)} imports {', '.join(sorted(bad))}")
    assert offenders == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from training.models import X\n    import workflows.engine\n")
    assert imported_packages(module) == {"training", "workflows"}
