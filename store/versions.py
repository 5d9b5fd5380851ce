"""Version parsing and ordering shared by the worker and the read service (no ORM here).

A version's *key* is a tuple that orders correctly across PEP 440 forms
(packaging.version) and SemVer forms packaging rejects (``2.5.0-beta.1.hotfix``):
``(release, stage, extra)`` where trailing zeros of the release are dropped
(``2.5 == 2.5.0``), stage 0 is a pre-release, 1 final, 2 post-release, and
pre-release identifiers follow SemVer precedence (numeric < alphanumeric,
a shorter prefix sorts first). ``canonical`` renders the key as a string for
exact-rule lookups, so ``v2.5.0``, ``2.5`` and ``2.5.0`` find the same rule.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion as _PackagingInvalid
from packaging.version import Version

from store.errors import InvalidVersion

VersionKey = tuple

_SEMVER = re.compile(
    r"^[vV]?(?P<release>\d+(?:\.\d+)*)"
    r"(?:-(?P<pre>[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$",
    re.ASCII,
)
_PHASES = {"a": "alpha", "b": "beta", "rc": "rc"}


def _ci(*words: str) -> str:
    return "(?:" + "|".join("".join(f"[{c.lower()}{c.upper()}]" for c in w) for w in words) + ")"


# What parse_key accepts (after stripping surrounding whitespace, at most 64 characters), as one regular
# expression the OpenAPI documents carry: PEP 440 as packaging reads it (case-insensitive, spelled out as
# character classes so any JSON Schema engine reads it), or SemVer-like forms packaging rejects.
_PEP440 = (
    r"[vV]?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
    + rf"(?:[-_.]?{_ci('alpha', 'a', 'beta', 'b', 'preview', 'pre', 'c', 'rc')}[-_.]?[0-9]*)?"
    + rf"(?:-[0-9]+|[-_.]?{_ci('post', 'rev', 'r')}[-_.]?[0-9]*)?"
    + rf"(?:[-_.]?{_ci('dev')}[-_.]?[0-9]*)?"
    + r"(?:\+[a-zA-Z0-9]+(?:[-_.][a-zA-Z0-9]+)*)?"
)
_SEMVER_FORM = (
    r"[vV]?[0-9]+(?:\.[0-9]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
VERSION_PATTERN = rf"^\s*(?:{_PEP440}|{_SEMVER_FORM})\s*$"
# A version in a query string: clients that build it without encoding send "1.0.0+7" as "1.0.0 7" (the
# AppCockpit SDK, already on phones), so a space stands for "+" there (from_query).
VERSION_QUERY_PATTERN = VERSION_PATTERN.replace("\\+", "[+ ]")


def from_query(text: str) -> str:
    """A version read from a query string: a space inside it is the "+" an unencoding client sent."""
    return text.strip().replace(" ", "+")


_MAX_LEN = 64


def _strip(release: tuple[int, ...]) -> tuple[int, ...]:
    release = tuple(release)
    while len(release) > 1 and release[-1] == 0:
        release = release[:-1]
    return release


def _ident(part: str) -> tuple:
    return (0, int(part), "") if part.isdigit() else (1, 0, part.lower())


def parse_key(text: str) -> VersionKey:
    """Return the ordering key of a version string, or raise InvalidVersion."""
    text = (text or "").strip()
    if not text or len(text) > _MAX_LEN:
        raise InvalidVersion(f"invalid version {text!r}")
    try:
        v = Version(text)
    except _PackagingInvalid:
        m = _SEMVER.match(text)
        if not m:
            raise InvalidVersion(f"invalid version {text!r}") from None
        release = _strip(tuple(int(p) for p in m.group("release").split(".")))
        pre = m.group("pre")
        if pre:
            return (release, 0, tuple(_ident(p) for p in pre.split(".")))
        return (release, 1, ())
    release = _strip(v.release)
    if v.pre is not None:
        phase, num = v.pre
        extra: tuple[tuple[int, int, str], ...] = ((1, 0, _PHASES[phase]), (0, num, ""))
        if v.dev is not None:
            extra += ((1, 0, "dev"), (0, v.dev, ""))
        return (release, 0, extra)
    if v.dev is not None:
        # 1.0.dev3 precedes every alpha of 1.0 ("alpha" > "0dev" lexically).
        return (release, 0, ((1, 0, "0dev"), (0, v.dev, "")))
    if v.post is not None:
        return (release, 2, ((0, v.post, ""),))
    return (release, 1, ())


def canonical(text: str) -> str:
    """A string naming the version's equivalence class (exact-rule lookup key)."""
    return canonical_key(parse_key(text))


def canonical_key(key: VersionKey) -> str:
    release, stage, extra = key
    out = ".".join(str(p) for p in release) + f"~{stage}"
    for kind, num, s in extra:
        out += f".{num}" if kind == 0 else f".{s}"
    return out


def is_valid(text: str) -> bool:
    try:
        parse_key(text)
    except InvalidVersion:
        return False
    return True
