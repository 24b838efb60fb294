"""The context classifier: a small head on frozen embeddings.

Trained with torch (``train_head``), applied with numpy (``Head.probabilities``), so scoring,
routing and the metrics pages need no torch. Softmax over each exclusive group, sigmoid for
every multi-label concept; class weights balance rare options and rare concepts.
"""

import io
from dataclasses import dataclass, field

import numpy as np

from training.ml.layout import Layout


@dataclass(frozen=True)
class HeadParams:
    hidden: int = 0  # 0: a linear head (logistic regression); else one ReLU hidden layer
    steps: int = 300
    batch_size: int = 4096
    learning_rate: float = 0.01
    weight_decay: float = 1e-3
    seed: int = 0


@dataclass
class Head:
    layout: Layout
    mean: np.ndarray
    scale: np.ndarray
    layers: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def logits(self, features: np.ndarray) -> np.ndarray:
        x = (np.asarray(features, dtype=np.float32) - self.mean) / self.scale
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                np.maximum(x, 0, out=x)
        return x

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, width) probabilities: each group's columns sum to 1; singles are independent."""
        return layout_probabilities(self.logits(features), self.layout)

    def to_bytes(self) -> bytes:
        arrays = {"mean": self.mean, "scale": self.scale}
        for i, (weight, bias) in enumerate(self.layers):
            arrays[f"w{i}"], arrays[f"b{i}"] = weight, bias
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, layout: Layout) -> "Head":
        arrays = np.load(io.BytesIO(data))
        layers = []
        while f"w{len(layers)}" in arrays:
            i = len(layers)
            layers.append((arrays[f"w{i}"], arrays[f"b{i}"]))
        return cls(layout, arrays["mean"], arrays["scale"], layers)


def layout_probabilities(logits: np.ndarray, layout: Layout) -> np.ndarray:
    """(n, width) probabilities from logits over ``layout``'s columns: softmax over each
    exclusive group, sigmoid for every multi-label concept (any network ending in these
    columns: the head, the fine-tuned ``deep`` classifier)."""
    logits = np.asarray(logits, dtype=np.float32)
    probs = np.empty_like(logits)
    for group in layout.groups:
        columns = list(group)
        z = logits[:, columns]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        probs[:, columns] = z / z.sum(axis=1, keepdims=True)
    singles = list(layout.singles)
    probs[:, singles] = 1.0 / (1.0 + np.exp(-logits[:, singles]))
    return probs


def decision_scores(probs: np.ndarray, layout: Layout) -> np.ndarray:
    """The score that decides each label: a group option counts only when it is the group's
    top choice (else 0); a single's score is its probability."""
    scores = probs.copy()
    for group in layout.groups:
        columns = list(group)
        block = probs[:, columns]
        top = block.argmax(axis=1)
        masked = np.zeros_like(block)
        rows = np.arange(len(block))
        masked[rows, top] = block[rows, top]
        scores[:, columns] = masked
    return scores


def class_weights(y: np.ndarray, known: np.ndarray, layout: Layout) -> np.ndarray:
    """Per column: for a group option, n / (options × count) (balanced); for a single, the
    ratio of negatives to positives (BCE's pos_weight), both clipped to [0.1, 50]."""
    weights = np.ones(layout.width, dtype=np.float32)
    for group in layout.groups:
        columns = list(group)
        counts = (y[:, columns] * known[:, columns]).sum(axis=0)
        total = counts.sum()
        if total:
            weights[columns] = total / (len(columns) * np.maximum(counts, 1))
    for column in layout.singles:
        positives = y[known[:, column], column].sum()
        negatives = known[:, column].sum() - positives
        weights[column] = negatives / max(positives, 1)
    return np.clip(weights, 0.1, 50.0)


def train_head(
    features: np.ndarray,
    y: np.ndarray,
    known: np.ndarray,
    layout: Layout,
    params: HeadParams = HeadParams(),
    progress=None,
) -> Head:
    """Fit the head. ``progress(fraction)`` is called now and then (it may raise to stop)."""
    import torch

    torch.manual_seed(params.seed)
    generator = np.random.default_rng(params.seed)
    features = np.asarray(features, dtype=np.float32)
    # Centre, and scale by one global factor: per-feature scaling would blow up features
    # that are nearly constant in a small training set and differ at prediction time.
    mean = features.mean(axis=0)
    scale = np.full_like(mean, float(features.std()) + 1e-6)
    x_all = torch.from_numpy((features - mean) / scale)
    y_all = torch.from_numpy(y)
    known_all = torch.from_numpy(known)
    weights = torch.from_numpy(class_weights(y, known, layout))

    dims = [features.shape[1]] + ([params.hidden] if params.hidden else []) + [layout.width]
    modules: list[torch.nn.Module] = []
    for i in range(len(dims) - 1):
        modules.append(torch.nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            modules.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*modules)
    optimizer = torch.optim.AdamW(
        net.parameters(), lr=params.learning_rate, weight_decay=params.weight_decay
    )
    groups, singles = loss_columns(layout)
    n = len(features)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    for step in range(params.steps):
        if n > params.batch_size:
            rows = torch.from_numpy(generator.choice(n, params.batch_size, replace=False))
            x, t, k = x_all[rows], y_all[rows], known_all[rows]
        else:
            x, t, k = x_all, y_all, known_all
        logits = net(x)
        loss = layout_loss(logits, t, k, groups, singles, weights)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if progress and step % 25 == 0:
            progress(step / params.steps)

    layers = [
        (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
        for m in net
        if isinstance(m, torch.nn.Linear)
    ]
    return Head(layout, mean, scale, layers)


def loss_columns(layout: Layout):
    """``layout``'s exclusive groups and multi-label columns as the index tensors
    ``layout_loss`` takes."""
    import torch

    return [torch.tensor(g) for g in layout.groups], torch.tensor(layout.singles, dtype=torch.long)


def layout_loss(logits, targets, known, groups, singles, weights):
    """The training loss over ``layout``'s columns (torch): weighted cross-entropy per exclusive
    group, weighted BCE per multi-label concept, each on the rows whose label is known."""
    import torch
    import torch.nn.functional as F

    total = logits.new_zeros(())
    count = 0
    for columns in groups:
        rows = known[:, columns[0]]
        if rows.any():
            target = targets[rows][:, columns].argmax(dim=1)
            total = total + F.cross_entropy(
                logits[rows][:, columns], target, weight=weights[columns]
            )
            count += 1
    if len(singles):
        mask = known[:, singles].float()
        bce = F.binary_cross_entropy_with_logits(
            logits[:, singles], targets[:, singles], pos_weight=weights[singles], reduction="none"
        )
        total = total + (bce * mask).sum() / mask.sum().clamp(min=1) * len(singles)
        count += len(singles)
    return total / max(count, 1) if count else torch.zeros((), requires_grad=True)
