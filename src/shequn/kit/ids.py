"""Deterministic ids: the same decision made twice must produce the same row, never a second one."""

import hashlib


def stable_id(prefix: str, *parts: object) -> str:
    digest = hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()
    return f"{prefix}-{digest[:24]}"
