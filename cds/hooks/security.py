"""PLACEHOLDER for the wt-hooks branch only: the real module is written on branch wt-hooksec.

The interface the service relies on (from the lead's brief): :class:`AuthError` (``reason``, never
shown to the client) and :class:`TokenVerifier` with ``verify(authorization, audience)`` returning
the verified claims. This stand-in reads a JSON trust file ``{"issuers": [{"iss": ..., "jwks":
{"keys": [...]}}]}`` and checks an ES384/RS384 JWT with PyJWT (algorithm pinned, ``aud``, ``exp``,
``iss`` allow-list, ``jti`` not seen before). The lead keeps wt-hooksec's version on merge.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt

#: Algorithms accepted (the spec recommends ES384 and RS384; never none or HMAC).
ALGORITHMS = ("ES384", "RS384")


class AuthError(Exception):
    """The request is not authenticated; ``reason`` is for the server's operator, never the client.

    Parameters
    ----------
    reason
        Why (kept as :attr:`reason`).

    Examples
    --------
    >>> AuthError("expired").reason
    'expired'
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TokenVerifier:
    """Checks the EHR's JWT against the issuers of a trust file.

    Parameters
    ----------
    issuers
        ``iss`` -> JWK Set (``{"keys": [...]}``).

    Examples
    --------
    >>> TokenVerifier({}).verify(None, "https://cds.example/cds-services")
    Traceback (most recent call last):
    ...
    cds.hooks.security.AuthError: no bearer token
    """

    def __init__(self, issuers: Mapping[str, Mapping[str, Any]]) -> None:
        self._issuers = dict(issuers)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> TokenVerifier:
        """Read a trust file.

        Parameters
        ----------
        path
            JSON ``{"issuers": [{"iss": ..., "jwks": {"keys": [...]}}]}``.

        Returns
        -------
        TokenVerifier
            The verifier.

        Examples
        --------
        >>> import tempfile
        >>> f = Path(tempfile.mkdtemp()) / "trust.json"
        >>> _ = f.write_text('{"issuers": []}')
        >>> TokenVerifier.from_file(f)._issuers
        {}
        """
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls({entry["iss"]: entry["jwks"] for entry in data.get("issuers", [])})

    def verify(self, authorization: str | None, audience: str) -> Mapping[str, Any]:
        """The verified claims of ``Authorization: Bearer <JWT>``.

        Parameters
        ----------
        authorization
            The header's value.
        audience
            The URL of the endpoint called.

        Returns
        -------
        Mapping
            The claims.

        Raises
        ------
        AuthError
            Anything wrong.

        Examples
        --------
        >>> TokenVerifier({}).verify("Basic x", "a")
        Traceback (most recent call last):
        ...
        cds.hooks.security.AuthError: no bearer token
        """
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("no bearer token")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"unreadable token: {type(exc).__name__}") from None
        jwks = self._issuers.get(str(unverified.get("iss")))
        if jwks is None:
            raise AuthError("issuer not trusted")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError("algorithm not allowed")
        keys = [k for k in jwks.get("keys", []) if k.get("kid") == header.get("kid")]
        if not keys:
            raise AuthError("unknown key")
        try:
            key = jwt.PyJWK(keys[0], algorithm=alg)
            claims: dict[str, Any] = jwt.decode(token, key, algorithms=[alg], audience=audience,
                                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {type(exc).__name__}") from None
        now = time.time()
        with self._lock:
            self._seen = {j: t for j, t in self._seen.items() if t > now}
            if claims["jti"] in self._seen:
                raise AuthError("replayed jti")
            self._seen[claims["jti"]] = float(claims["exp"])
        return claims
