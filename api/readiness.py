"""Readiness checks shared by both services: each dependency answers ok, with how long it took, or why not."""

from __future__ import annotations

import time
from collections.abc import Callable


def probe(check: Callable[[], object]) -> dict:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure means not ready; the reason is shown, never raised
        return {
            "ok": False,
            "error": str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__,
        }
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}
