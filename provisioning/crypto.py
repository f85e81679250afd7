"""Encryption at rest for cloud credentials and generated secrets (Fernet).

The key is `CANOPY_CREDENTIALS_KEY` when set (so it can rotate independently of SECRET_KEY),
otherwise derived from SECRET_KEY.
"""

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    secret = getattr(settings, "CANOPY_CREDENTIALS_KEY", "") or settings.SECRET_KEY
    key = base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())
    return Fernet(key)


def encrypt_json(value: Any) -> str:
    return _fernet().encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str, default: Any) -> Any:
    if not token:
        return default
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        # Encrypted under another key: unreadable, treated as unset rather than crashing pages.
        return default
