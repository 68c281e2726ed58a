"""Price book and cost model: pure functions over pydantic models (standard library, pydantic, genai-prices).

Filled in by the pricing work (issue 3); the engine calls it, and it imports nothing of the engine's.
"""

from __future__ import annotations

__all__: list[str] = []
