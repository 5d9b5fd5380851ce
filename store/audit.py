"""Who changed what, when and from where: one row per changed record, in the change's own transaction.

A listener of store/changes.py: every watched model's ``save`` and ``delete_instance`` emit a change,
and this writes it for the acting admin. A change with no actor (the worker's, the CLI's) is not an
admin write and is not recorded here. Secrets are masked by the change itself.
"""

from __future__ import annotations

from store.changes import Change, current
from store.models import AuditEntry


def record(change: Change) -> None:
    """Writes one entry for the current actor (nothing when there is none)."""
    actor = current()
    if actor is None:
        return
    AuditEntry.create(
        team_id=change.team_id,
        user_id=actor.user_id,
        user_email=actor.email,
        token_hint=actor.token_hint,
        address=actor.address,
        request_id=actor.request_id,
        resource=change.resource,
        resource_id=str(change.resource_id),
        action=change.action,
        changes=change.diff,
    )
