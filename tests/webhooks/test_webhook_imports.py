"""Webhooks are built on labeling, never the reverse: labeling imports nothing from the
webhooks app (it announces events through labeling/hooks.py) and none of its migrations
depends on it."""

import ast
from pathlib import Path

import labeling


def imported_modules(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.append(node.module or "")
        elif (  # importlib.import_module("webhooks...") / __import__("webhooks...")
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules.append(node.args[0].value)
    return modules


def is_webhook_code(module: str) -> bool:
    """The webhooks app, or webhook code left inside another app (``labeling.webhook_rules``,
    ``labeling.services.webhooks``)."""
    return any(part.startswith("webhook") for part in module.split("."))


def test_labeling_imports_nothing_from_webhooks():
    root = Path(labeling.__file__).parent
    offenders = [
        f"{path.relative_to(root.parent)}: {module}"
        for path in sorted(root.rglob("*.py"))
        for module in imported_modules(path)
        if is_webhook_code(module)
    ]
    webhook_files = [p.name for p in root.rglob("*.py") if p.name.startswith("webhook")]

    assert offenders == []
    assert webhook_files == []


def test_no_labeling_migration_depends_on_webhooks():
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    offenders = [
        f"{name}: {dependency}"
        for (app, name), migration in loader.disk_migrations.items()
        if app == "labeling"
        for dependency in migration.dependencies
        if dependency[0] == "webhooks"
    ]

    assert offenders == []
