"""Each read dialect's part of an app's snapshot document, decoded by that dialect's own codec.

The read cache holds an app's decoded parts by name, and the budget of its hot set counts their
estimated bytes, without knowing what is in them: adding a read dialect adds a codec to the registry
(api/dialects/registry.py: ``part_codecs``), never a field here or in api/read/cache.py.
"""

from __future__ import annotations

from typing import Protocol


class PartCodec(Protocol):
    name: str  # what readers ask for: view.part(name)

    def decode(self, doc: dict) -> tuple[object, int]:
        """The dialect's part of a decoded snapshot document, and its estimated resident bytes."""
        ...

    def release(self, part: object) -> None:
        """The hot set let an app's part go (a codec that shares values across apps counts them down)."""
        ...


class Plain:
    """A part kept as the document has it (the dialect shapes it when it reads it)."""

    def __init__(self, name: str, key: str, weigh=None):
        self.name, self.key, self._weigh = name, key, weigh

    def decode(self, doc: dict) -> tuple[object, int]:
        value = doc.get(self.key)
        return value, (self._weigh(value) if self._weigh is not None else 0)

    def release(self, part: object) -> None:
        return None


class Parts:
    """An app's decoded parts, by codec name, and their weight (the hot set's budget counts it)."""

    __slots__ = ("by_name", "weight")

    def __init__(self, by_name: dict[str, object], weight: int):
        self.by_name, self.weight = by_name, weight

    @classmethod
    def decode(cls, doc: dict, codecs: tuple[PartCodec, ...]) -> Parts:
        by_name, weight = {}, 1_000
        for codec in codecs:
            by_name[codec.name], cost = codec.decode(doc)
            weight += cost
        return cls(by_name, weight)

    def release(self, codecs: tuple[PartCodec, ...]) -> None:
        for codec in codecs:
            codec.release(self.by_name.get(codec.name))
