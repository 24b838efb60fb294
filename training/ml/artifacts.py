"""A trained network stored as bytes on its version: a dict of plain values and tensors,
saved with ``torch.save`` and read back with ``weights_only`` (no code runs on load)."""

import io


def payload_dump(payload: dict) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def payload_load(data: bytes, *, format: str, what: str) -> dict:
    """The stored dict; ValueError names ``what`` when the bytes are not one of ``format``."""
    import torch

    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several kinds on bytes it cannot read
        raise ValueError(f"These bytes are not a stored {what} (unreadable format).") from exc
    if not isinstance(payload, dict) or payload.get("format") != format:
        raise ValueError(f"These bytes are not a stored {what} (unknown format).")
    return payload
