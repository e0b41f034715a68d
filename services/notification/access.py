"""Who may see and change what in the notification service (docs/services/notification.md#who-may-call-what),
decided on the verified caller (``shared.identity.Identity``). Pure: no nameko, no I/O.

A person's inbox and preferences are theirs (or an admin's to see to); webhooks, deliveries, reminders and the
support reads are admins' (each RPC names its roles with ``caller.require``)."""
from __future__ import annotations

from shared.errors import Forbidden

PEOPLE = ("admin", "manager", "employee")


def require_own(caller, user_id, what: str):
    """A person acts on their own notifications and preferences only; an admin on anyone's."""
    if caller.role != "admin" and user_id != caller.subject:
        raise Forbidden(f"that is another person's {what}", code="auth.not_own")
