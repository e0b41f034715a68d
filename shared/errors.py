"""Errors every Chronicle service raises, pure: the domain raises them and imports no nameko.

Each carries a machine-readable ``code``. ``shared.remote_errors`` carries them over nameko RPC (nameko rebuilds
them from ``exc_args``, hence the positional args).
"""


class ChronicleError(Exception):
    code = "error"
    http_status = 500

    def __init__(self, message="", code=None, errors=None):
        self.message = message
        self.code = code or type(self).code
        self.errors = errors or {}
        super().__init__(message, self.code, self.errors)

    def __str__(self):
        return self.message or self.code

    def to_dict(self):
        """The error as any caller reads it: over RPC (``shared.remote_errors``) and HTTP alike."""
        return {"type": type(self).__name__, "code": self.code, "message": self.message, "errors": self.errors}


class ValidationError(ChronicleError):
    """Bad input. ``errors`` maps field names to lists of messages."""

    code = "validation_failed"
    http_status = 400

    def __init__(self, message="", code=None, errors=None):
        if isinstance(message, dict) and errors is None:
            errors, message = message, ""
        super().__init__(message or "Invalid input", code, errors)


class NotFound(ChronicleError):
    """Nothing by that id (yet)."""

    code = "not_found"
    http_status = 404


class Conflict(ChronicleError):
    """The request clashes with the current state: another write came first, or the thing exists already."""

    code = "conflict"
    http_status = 409


class RuleViolation(ChronicleError):
    """A business rule refuses the command (the period is locked, the project is not active)."""

    code = "rule_violation"
    http_status = 422


class Forbidden(ChronicleError):
    """The caller may not do this."""

    code = "forbidden"
    http_status = 403


class Unauthenticated(ChronicleError):
    """No verified caller: the token is missing, invalid, expired or revoked (``auth.*`` codes)."""

    code = "auth.invalid"
    http_status = 401


ERRORS = {cls.__name__: cls for cls in (ValidationError, NotFound, Conflict, RuleViolation, Forbidden,
                                        Unauthenticated)}
