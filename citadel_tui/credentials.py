"""Citadel's own store credentials (Vault tokens) in the OS keyring, never in citadel.toml.

Entries live under service "citadel" with usernames like "vault:https://vault:8200", so one
keyring can hold a token per server. `citadel login vault --url URL` calls `store_token`.
"""

from __future__ import annotations

import keyring
from keyring.errors import KeyringError, NoKeyringError, PasswordDeleteError

from citadel_tui.core.errors import CredentialsMissingError

SERVICE = "citadel"

NO_BACKEND_HELP = (
    "no usable OS keyring backend ({reason}); install and unlock one (GNOME Keyring, KWallet, "
    "macOS Keychain, Windows Credential Manager), or choose one with PYTHON_KEYRING_BACKEND, "
    "or set VAULT_TOKEN instead"
)


def username(url: str, kind: str = "vault") -> str:
    """The keyring username for a store URL; a trailing slash does not make a new entry."""
    return f"{kind}:{url.rstrip('/')}"


def store_token(url: str, token: str) -> None:
    """Save the token for a Vault/OpenBao URL, replacing any earlier one."""
    if not token.strip():
        raise CredentialsMissingError(f"refusing to store an empty token for {url}")
    try:
        keyring.set_password(SERVICE, username(url), token.strip())
    except NoKeyringError as exc:
        raise CredentialsMissingError(NO_BACKEND_HELP.format(reason=type(exc).__name__)) from None
    except KeyringError as exc:
        raise CredentialsMissingError(
            f"the OS keyring refused to store the token for {url} ({type(exc).__name__}); "
            "is the keyring locked?"
        ) from None


def load_token(url: str) -> str | None:
    """The stored token for a URL, or None when none is stored."""
    try:
        return keyring.get_password(SERVICE, username(url))
    except NoKeyringError as exc:
        raise CredentialsMissingError(NO_BACKEND_HELP.format(reason=type(exc).__name__)) from None
    except KeyringError as exc:
        raise CredentialsMissingError(
            f"the OS keyring could not be read for {url} ({type(exc).__name__}); is the keyring locked?"
        ) from None


def delete_token(url: str) -> bool:
    """Forget the stored token for a URL; False when there was none."""
    try:
        keyring.delete_password(SERVICE, username(url))
    except PasswordDeleteError:
        return False
    except NoKeyringError as exc:
        raise CredentialsMissingError(NO_BACKEND_HELP.format(reason=type(exc).__name__)) from None
    return True
