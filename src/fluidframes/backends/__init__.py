"""Execution backends for the IFNet family (see :mod:`.torch_fast` and docs/ARCHITECTURE.md)."""

from __future__ import annotations

BACKENDS = ("auto", "torch", "eager")
