"""Who an expert is in Label Studio, without their name: a login alias and a display
handle derived from their pool id with a secret key, and one-time passwords that are
kept only encrypted (pure; no I/O)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata

from cryptography.fernet import Fernet, InvalidToken

LOGIN_DOMAIN = "experts.annoflow.invalid"  # never a mailbox: a login name shaped like an email


def client_key(client: str) -> str:
    """A client's name as annoflow compares and keys it: "Acme Labs", " acme  labs" and
    "ACME LABS" are one client (Unicode NFKC, case-folded, spaces collapsed)."""
    return " ".join(unicodedata.normalize("NFKC", client).casefold().split())


def _digest(key: bytes, expert_id: str) -> str:
    return hmac.new(key, expert_id.encode(), hashlib.sha256).hexdigest()


def login_alias(expert_id: str, *, key: bytes) -> str:
    return f"x{_digest(key, expert_id)[:15]}@{LOGIN_DOMAIN}"


def display_handle(expert_id: str, *, key: bytes) -> str:
    return f"expert-{_digest(key, expert_id)[16:22]}"


def new_password() -> str:
    """A one-time password: 20 characters, about 119 bits."""
    return secrets.token_urlsafe(15)


def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(key).digest()))


def seal(password: str, *, key: bytes) -> str:
    return _fernet(key).encrypt(password.encode()).decode()


def unseal(token: str, *, key: bytes) -> str | None:
    """The password, or None when the key changed (the expert then needs a reset)."""
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
