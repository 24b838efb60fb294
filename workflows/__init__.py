"""Workflow graphs of models and operators: the pure core.

Imports nothing from Django, ``labeling`` or ``training`` (numpy only), so a graph can be
parsed, validated and run on a batch without a database. The caller (the ORM layer) stores
documents, resolves model versions, injects model runners and writes the rows an
``annotation-writer`` returns. See ``docs/workflows.md``.
"""
