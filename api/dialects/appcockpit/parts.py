"""AppCockpit's part of an app's snapshot, as the read service holds it: every answer's bytes and ETag,
with the answers identical across apps held once (api/read/parts.py's codec interface)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from store.versions import VersionKey, parse_key

# Estimated resident bytes of the decoded form: an entry of an app's table, and an answer no other app
# shares (its tuple, the shared table's entry) on top of its bodies; tracemalloc's figures for the scale
# run's documents (30, 320, 250) times 1.6, as a read process's resident memory grew 1.6 times the decoded
# bytes while every app was asked in turn (the allocator's fragmentation, decoding's transient objects).
ENTRY_BYTES = 48
ANSWER_BYTES = 512
BODY_FACTOR = 1.6


@dataclass(frozen=True, slots=True)
class Answers:
    # "platform|env|canonical" -> (v1 body, v1 etag, v2 body, v2 etag)
    exact: dict[str, tuple[bytes, str, bytes, str]]
    # "platform|env" -> (minimum key, v1 body, v1 etag, v2 body, v2 etag)
    minimum: dict[str, tuple[VersionKey, bytes, str, bytes, str]]
    maintenance: dict[str, tuple[bytes, str]]


NO_ANSWERS = Answers({}, {}, {})


class Shared:
    """Answers (bodies and ETags) identical across apps, held once: a fleet of apps repeats versions and
    messages, and 10,000 apps of one shape decoded to 700 bytes a rule, 245 MB per process, before.

    Keyed by the bodies themselves, never by their ETag (an MD5: two teams' bodies made to collide must
    not share). Counted: an answer leaves the table when the last app holding it is evicted, so the table
    never keeps an evicted app's answers alive."""

    def __init__(self):
        # (v1 body, v2 body) -> [answer, apps holding it]; exact answers and minimum answers apart
        self.exact: dict[tuple[bytes, bytes], list] = {}
        self.minimum: dict[tuple[bytes, bytes], list] = {}

    def answer(self, table: dict, b1: str, e1: str, b2: str, e2: str, *head) -> tuple[tuple, int]:
        """The shared (*head, v1 body, v1 etag, v2 body, v2 etag), and the bytes it added (0 if shared)."""
        d1, d2 = b1.encode(), b2.encode()
        found = table.get((d1, d2))
        if found is not None:
            found[1] += 1
            return found[0], 0
        value = (*(parse_key(h) for h in head), d1, sys.intern(e1), d2, sys.intern(e2))
        table[(d1, d2)] = [value, 1]
        return value, ANSWER_BYTES + int(BODY_FACTOR * (len(d1) + len(d2)))

    def release(self, answers: Answers) -> None:
        """An app's answers are no longer held by it."""
        pairs: tuple[tuple[dict[tuple[bytes, bytes], list], dict[str, Any], int], ...] = (
            (self.exact, answers.exact, 0),
            (self.minimum, answers.minimum, 1),
        )
        for table, held, at in pairs:
            for a in held.values():
                entry = table.get((a[at], a[at + 2]))
                if entry is not None and entry[0] is a:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        del table[(a[at], a[at + 2])]


class AnswersCodec:
    """Decodes the "exact", "minimum" and "maintenance" keys the worker rendered (snapshot.py)."""

    name = "appcockpit"

    def __init__(self):
        self.shared = Shared()

    def decode(self, doc: dict) -> tuple[Answers, int]:
        shared, weight = self.shared, 0
        exact, minimum = {}, {}
        for key, (b1, e1, b2, e2) in (doc.get("exact") or {}).items():
            exact[sys.intern(key)], cost = shared.answer(shared.exact, b1, e1, b2, e2)
            weight += ENTRY_BYTES + cost
        for key, (version, b1, e1, b2, e2) in (doc.get("minimum") or {}).items():
            minimum[sys.intern(key)], cost = shared.answer(shared.minimum, b1, e1, b2, e2, version)
            weight += ENTRY_BYTES + cost
        maintenance = {k: (b.encode(), e) for k, (b, e) in (doc.get("maintenance") or {}).items()}
        return Answers(exact, minimum, maintenance), weight

    def release(self, part: object) -> None:
        if isinstance(part, Answers):
            self.shared.release(part)
