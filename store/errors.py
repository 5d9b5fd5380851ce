"""Domain errors, by kind. They carry a message but no HTTP status: each dialect maps a kind to its
own status and error body (api/dialects/errors.py), chosen by the route that answered."""


class DomainError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    """The request's content is wrong (a malformed or out-of-range value)."""


class InvalidVersion(InvalidInput):
    """A version string no version scheme Gatehouse knows can parse."""


class NotAuthenticated(DomainError):
    """No credentials, or ones that name nobody (or were revoked)."""


class PaymentRequired(DomainError):
    """The team's subscription has lapsed."""


class Forbidden(DomainError):
    """The caller is known but may not do this."""


class NotFound(DomainError):
    """No such record, or one the caller may not see (the two are indistinguishable on purpose)."""


class NoSuchBuild(NotFound):
    """A download named a build that does not exist (or was deleted with its app)."""


class NoSuchConfig(NotFound):
    """An app configuration id that names none of the app's configurations."""


class BuildOfAnotherTeam(Forbidden):
    """A download named a build of an app outside the caller's teams."""


class NoBuildFile(NotFound):
    """A download named a build with no file uploaded yet."""


class Conflict(DomainError):
    """The change would break a uniqueness rule or the record's current state."""


class TooLarge(DomainError):
    """A body or upload past its configured bound."""


class TooManyRequests(DomainError):
    """Rate limited; ``retry_after`` seconds until the next attempt may succeed."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (the database) cannot be reached or failed; the request may be retried."""


class BadGateway(DomainError):
    """A service a team configured (its S3 storage) refused or failed the call made on its behalf."""
