"""Dependencies point one way (DESIGN.md, Layout): ``training``, ``workflows`` and
``webhooks`` build on ``labeling``; ``workflows`` also on ``training``. Labeling announces
what happened through ``labeling/hooks.py`` instead of importing them."""

import ast
import re
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


# One writer per entity (issue 11): annotations are created only by
# labeling/services/annotations.py, an input's status is written only by
# labeling/services/statuses.py. Everything else calls them.
APPS = ("labeling", "training", "workflows", "webhooks", "portal")
ANNOTATION_MODELS = {"Annotation", "AnnotationLabel", "Region"}
CREATORS = {"create", "bulk_create", "get_or_create", "update_or_create"}
ANNOTATION_SQL = re.compile(
    r"INSERT\s+INTO\s+(\{(Annotation|AnnotationLabel|Region)\._meta\.db_table\}"
    r"|\"?labeling_(annotation|annotationlabel|region)\b)",
    re.IGNORECASE,
)
STATUS_SQL = re.compile(
    r"UPDATE\s+(\{Input\._meta\.db_table\}|\"?labeling_input\b)[^;]*\bSET\s+status\b", re.I
)


def _manager_model(call: ast.Call) -> str | None:
    """``Model`` of ``Model.objects.<...>.<method>(...)``, the receiver chain followed down."""
    node = call.func.value if isinstance(call.func, ast.Attribute) else None
    while node is not None:
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            return node.value.id if isinstance(node.value, ast.Name) else None
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        else:
            return None
    return None


def writes_found(source: str) -> dict[str, list[int]]:
    """Line numbers of each kind of write in ``source``: "annotations" (rows of annotations,
    their labels or regions created) and "input status" (an input's status set)."""
    found: dict[str, list[int]] = {"annotations": [], "input status": []}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            model = _manager_model(node)
            if node.func.attr in CREATORS and model in ANNOTATION_MODELS:
                found["annotations"].append(node.lineno)
            if (
                node.func.attr == "update"
                and model == "Input"
                and any(k.arg == "status" for k in node.keywords)
            ):
                found["input status"].append(node.lineno)
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and target.attr == "status"
                and isinstance(target.value, ast.Name)
                and "input" in target.value.id.lower()
            ):
                found["input status"].append(node.lineno)
    for number, line in enumerate(source.splitlines(), start=1):
        if ANNOTATION_SQL.search(line):
            found["annotations"].append(number)
        if STATUS_SQL.search(line):
            found["input status"].append(number)
    return {entity: sorted(lines) for entity, lines in found.items()}


OWNERS = {
    "annotations": "labeling/services/annotations.py",
    "input status": "labeling/services/statuses.py",
}


@pytest.mark.parametrize("entity", sorted(OWNERS))
def test_each_entity_has_one_writer(entity):
    offenders = []
    for app in APPS:
        for path in sorted((REPO / app).rglob("*.py")):
            name = str(path.relative_to(REPO))
            if "migrations" in path.parts or name == OWNERS[entity]:
                continue
            offenders += [f"{name}:{n}" for n in writes_found(path.read_text())[entity]]
    assert offenders == []


def test_the_writer_check_sees_each_way_of_writing():
    source = """
Annotation.objects.create(input=i)
AnnotationLabel.objects.filter(x=1).bulk_create(rows)
Region.objects.bulk_create(rows)
cursor.execute(f"INSERT INTO {Annotation._meta.db_table} (id) VALUES (1)")
cursor.execute("insert into labeling_annotationlabel (id) values (1)")
Input.objects.filter(id=1).update(status="labeled")
input.status = "labeled"
cursor.execute(f"UPDATE {Input._meta.db_table} AS i SET status = u.status")
Annotation.objects.filter(id=1).update(status="rejected")
Input.objects.filter(id=1).update(priority=2)
annotation.status = "accepted"
Input(status="unlabeled")
"""
    assert writes_found(source) == {"annotations": [2, 3, 4, 5, 6], "input status": [7, 8, 9]}
