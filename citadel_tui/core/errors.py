"""Every failure Citadel reports is one of these classes, with a message an operator can act on."""

from __future__ import annotations


class CitadelError(Exception):
    """Base of every error Citadel raises on purpose."""


class ConfigError(CitadelError):
    """citadel.toml is missing, malformed or holds a value that is not allowed."""


class EnvFileError(CitadelError):
    """A .env file cannot be read at all (missing, unreadable, binary, not UTF-8)."""


class NamingError(CitadelError):
    """An env key cannot be stored under a legal secret name, or two keys collide."""


class SourceError(CitadelError):
    """A secret store failed. `retryable` says whether trying again may help."""

    retryable = False

    def __init__(self, message: str, *, source: str = "", action: str = "") -> None:
        super().__init__(message)
        self.source = source
        self.action = action


class CredentialsMissingError(SourceError):
    """No credentials could be found for the store."""


class AuthenticationError(SourceError):
    """The store rejected the credentials (expired token, bad signature)."""


class PermissionDeniedError(SourceError):
    """The credentials are valid but lack a permission for an action on a resource."""


class SecretNotFoundError(SourceError):
    """The named secret (or the vault, project or mount) does not exist."""


class SecretExistsError(SourceError):
    """A create was refused because the secret already exists; Citadel never overwrites."""


class ThrottledError(SourceError):
    """The store asked us to slow down (HTTP 429, ThrottlingException, RESOURCE_EXHAUSTED)."""

    retryable = True


class StoreUnavailableError(SourceError):
    """The store could not be reached or answered with a server error (5xx, refused, dropped)."""

    retryable = True


class StoreTimeoutError(SourceError):
    """The store did not answer within the configured timeout."""

    retryable = True


class ConcurrentChangeError(SourceError):
    """A read-modify-write was refused because someone changed the resource after it was read
    (a stale etag). Not retryable as is: the resource must be read again first."""


class MalformedResponseError(SourceError):
    """The store answered with something Citadel cannot understand."""


class AuditNotSupportedError(CitadelError):
    """Citadel cannot turn audit logging on for this store: its API does not allow it, or an
    option the change needs (bucket, workspace, resource id) is not configured."""


class ReadOnlyError(CitadelError):
    """A write was attempted while Citadel runs in read-only mode."""
