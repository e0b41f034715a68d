"""The kit's errors over nameko RPC, both ways.

- A caller that imports this module gets the typed class back (``ValidationError``, ``NotFound``, …, with
  ``code``, ``message`` and ``errors``): nameko rebuilds a registered class from its ``exc_args``.
- Any other caller gets nameko's ``RemoteError``, whose ``value`` is ``describe(exc)``: the error as a JSON object
  (``type``, ``code``, ``message``, ``errors``), so a caller needs nothing of Chronicle's to read it. The kit's RPC
  responder (``shared.entrypoints``) sends it; ``str(exc)``, which logs show, stays the message.

The error classes themselves stay pure in ``shared.errors`` (the domain raises them and imports no nameko).
"""
from __future__ import annotations

import json

from nameko.exceptions import deserialize_to_instance

from .errors import ERRORS, ChronicleError

for _cls in ERRORS.values():
    deserialize_to_instance(_cls)


def describe(exc: ChronicleError) -> str:
    """``exc`` as the JSON object a RemoteError's ``value`` carries."""
    return json.dumps(exc.to_dict(), default=str, ensure_ascii=False)
