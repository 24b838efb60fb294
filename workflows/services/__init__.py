"""Writes of the workflows app: ``workflows`` (create, update = new version, delete,
validate, the project's default) and ``runs`` (runs on the project, dry runs)."""
