"""The model code: numpy and torch only, nothing from Django.

- ``backbone``: EfficientNet-Lite0 features (torch; loaded once per worker process).
- ``head``: the context classifier: trained with torch, applied with numpy.
- ``metrics``, ``thresholds``: held-out evaluation and per-concept thresholds.
- ``routing``: what becomes of an input given its scores.
- ``active``: the order in which annotators see inputs.

Only ``backbone`` and ``head.train_head`` import torch; everything else runs in the web
process too.
"""
