"""Password hashing (argon2) and signed access tokens (JWT, HS256)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import cache

import jwt
from pwdlib import PasswordHash

from tinymlaas.auth import clock

_hasher = PasswordHash.recommended()
ALGORITHM = "HS256"


@cache
def _dummy_hash() -> str:
    """Verifying against this makes an unknown-user login as slow as a wrong password."""
    return _hasher.hash("tinymlaas-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    if password_hash is None:
        _hasher.verify(password, _dummy_hash())
        return False
    return _hasher.verify(password, password_hash)


def create_access_token(user_id: int, secret_key: str, minutes: int) -> str:
    now = clock.now()
    claims = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=minutes)}
    return jwt.encode(claims, secret_key, algorithm=ALGORITHM)


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    expires_at: float  # seconds since the epoch


def read_access_token(token: str, secret_key: str) -> TokenClaims | None:
    """Who the token was issued to and until when, or None when it is invalid or expired.

    PyJWT checks the signature and the claims' presence; the times are checked here, against
    the same clock that issued the token.
    """
    try:
        claims = jwt.decode(
            token,
            secret_key,
            algorithms=[ALGORITHM],
            options={
                "require": ["exp", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
        now = clock.now().timestamp()
        expires_at = float(claims["exp"])
        not_before = max(float(claims.get("iat", now)), float(claims.get("nbf", now)))
        if expires_at <= now or not_before > now:
            return None
        return TokenClaims(int(claims["sub"]), expires_at)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
