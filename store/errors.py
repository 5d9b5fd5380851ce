"""Domain errors. Raised in store/ and mapped to status and body once per dialect."""


class DomainError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status = 400


class NotAuthenticated(DomainError):
    status = 401


class PaymentRequired(DomainError):
    status = 402


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class TooManyRequests(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class InvalidVersion(InvalidInput):
    pass
