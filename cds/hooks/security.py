"""Who may call the CDS Hooks service: the EHR's signed JWT, checked as CDS Hooks 2.0 asks.

Source: CDS Hooks specification, section "Trusting CDS Clients" and "JWT Signing Algorithm"
(github:cds-hooks/docs, ``docs/specification/current.md``, commit 462a38f; published as
https://cds-hooks.hl7.org/2.0/). What it asks, and what this module does about it:

- every call carries ``Authorization: Bearer <JWT>``, signed by the EHR's private key; the header
  names ``alg``, ``kid`` (required), ``typ`` (``JWT``) and optionally ``jku`` (the URL of the
  EHR's JWK Set); the payload has ``iss``, ``aud``, ``exp``, ``iat``, ``jti`` (all required) and
  optionally ``tenant``;
- ``none`` and symmetric (HMAC) algorithms are forbidden; ES384 and RS384 are the recommended
  ones. Here they are the only ones: the list is pinned in :data:`ALGORITHMS` and a trust file may
  narrow it, never widen it (RS256 or ES256 are refused too);
- ``aud`` is the URL of the endpoint being called: ``{base}/cds-services`` for discovery,
  ``{base}/cds-services/{id}`` for a service (the exact URL, not the base); a string or a list
  that contains it;
- services should keep an allow-list of ``iss`` and ``jku`` URLs; ``jti`` guards against replay.

How an EHR's key gets trusted
-----------------------------
Trust is configured, never discovered. The EHR's administrators tell the service's operator,
out of band (the service agreement the spec speaks of), two things: the ``iss`` their tokens
carry, and either the URL of their JWK Set (then the tokens carry it as ``jku``) or the JWK Set
itself (public keys only). The operator writes one entry per EHR in the trust file read by
:func:`load_trust` (YAML or JSON)::

    issuers:
      - iss: https://ehr.example.org/
        jku_allow: [https://ehr.example.org/.well-known/]   # URL prefixes a token's jku may name
      - iss: https://other-ehr.example.org
        keys_file: other-ehr-jwks.json                      # relative to the trust file
    max_lifetime_seconds: 300

Then, for every call, :meth:`TokenVerifier.verify`:

1. reads the token without trusting it: the header's ``alg`` must be pinned, ``kid`` present;
2. looks the ``iss`` up in the allow-list: an unknown issuer is refused before anything is
   fetched, so nobody can make the service call a URL of their choosing;
3. takes the key: from the token's ``jku`` only when it lies under one of that issuer's
   ``jku_allow`` prefixes (same scheme, host and port; the path under the prefix's path;
   ``https`` only, plain ``http`` to 127.0.0.1 or localhost only when ``allow_http_loopback`` is
   set, for tests); without a ``jku``, from the issuer's configured keys. A ``jku`` that is not
   allowed is refused (no fall-back to configured keys: the token points at a key set the
   operator did not approve). Fetched key sets are cached (``jwks_cache_seconds``), fetched with
   a timeout and a size cap, never following redirects, and fetched again once when a ``kid`` is
   unknown (at most once per ``jwks_refetch_seconds``: the EHR rotated its keys);
4. checks the signature with that key and the pinned algorithm (the key's type must match:
   P-384 EC for ES384, RSA of at least 2048 bits for RS384);
5. checks the claims against the service's clock (``leeway_seconds`` of skew allowed): ``aud``,
   ``exp`` not passed, ``iat`` not in the future, ``exp - iat`` at most ``max_lifetime_seconds``,
   ``jti`` never seen from this issuer while the token lives (the replay cache holds each
   ``jti`` until its token expires, so it is bounded by the request rate times the lifetime).

Any failure raises :class:`AuthError`; its ``reason`` is for the service's own log (it never
holds patient data, and it names no secret), and the service answers 401 without it.

Examples
--------
An EHR's key, its public half trusted inline, a token signed with the private half:

>>> import jwt
>>> from cryptography.hazmat.primitives.asymmetric import ec
>>> from jwt.algorithms import ECAlgorithm
>>> private = ec.generate_private_key(ec.SECP384R1())
>>> public_jwk = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "ehr-1"}
>>> trust = parse_trust({"issuers": [{"iss": "https://ehr.example.org", "keys": {"keys": [public_jwk]}}]})
>>> verifier = TokenVerifier(trust, clock=lambda: 1_700_000_000)
>>> service = "https://cds.example.org/cds-services/netcds-patient-view"
>>> claims = {"iss": "https://ehr.example.org", "aud": service, "iat": 1_700_000_000,
...           "exp": 1_700_000_060, "jti": "a1"}
>>> token = jwt.encode(claims, private, algorithm="ES384", headers={"kid": "ehr-1"})
>>> verifier.verify(f"Bearer {token}", service)["jti"]
'a1'
>>> try:
...     verifier.verify(f"Bearer {token}", service)
... except AuthError as exc:
...     print(exc.code, "-", exc.reason)
replay - jti already used by this issuer (token replayed)
"""

from __future__ import annotations

import heapq
import json
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import SplitResult, urlsplit

import httpx
import jwt
import yaml
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.api_jws import PyJWS
from jwt.utils import base64url_decode
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from cds.errors import CdsError

#: A signing algorithm the service accepts.
Algorithm = Literal["ES384", "RS384"]

#: The algorithms the spec recommends, and the only ones accepted (a trust file may narrow them).
ALGORITHMS: tuple[str, ...] = ("ES384", "RS384")

#: The hosts plain ``http`` may reach when ``allow_http_loopback`` is set (tests only).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

#: The smallest RSA key accepted, in bits (NIST SP 800-131A: 2048 and more).
MIN_RSA_BITS = 2048

_KEY_TYPE = {"ES384": "EC", "RS384": "RSA"}
_PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")  # alg none: empty signature
_MAX_TEXT = 512  # the longest kid, iss or jti accepted (the spec sets none; UUIDs and URLs fit)


class AuthError(CdsError):
    """A call is refused: its token is missing, malformed, untrusted, expired or replayed.

    Parameters
    ----------
    code
        Which check failed, one short word (kept as :attr:`code`): ``header``, ``token``, ``alg``,
        ``typ``, ``kid``, ``iss``, ``jku``, ``jwks``, ``key``, ``signature``, ``aud``, ``exp``,
        ``iat``, ``nbf``, ``lifetime``, ``jti``, ``replay``.
    reason
        What failed, for the service's own log (kept as :attr:`reason`): no patient data, no
        token; the client gets a plain 401, not this text.

    Examples
    --------
    >>> error = AuthError("aud", "aud does not name this service")
    >>> error.code, str(error)
    ('aud', 'aud: aud does not name this service')
    """

    def __init__(self, code: str, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"{code}: {reason}")


class TrustError(CdsError):
    """The trust file is not valid: every problem, each naming its field.

    Parameters
    ----------
    problems
        ``field: message`` lines (kept as :attr:`problems`).
    source
        What to call the file in the message (kept as :attr:`source`).

    Examples
    --------
    >>> print(TrustError(["issuers[0].iss: Field required"], source="trust.yaml"))
    trust.yaml is not a valid trust file:
      - issuers[0].iss: Field required
    """

    def __init__(self, problems: list[str], source: str = "trust file") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source} is not a valid trust file:\n{lines}")


# ----------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class _Key:
    """One public key of a JWK Set, ready to verify."""

    kid: str
    kty: str
    alg: str | None
    public: ec.EllipticCurvePublicKey | rsa.RSAPublicKey


def _parse_jwk(jwk: Any) -> _Key:
    """A public signing key from one JWK, or ValueError saying why it cannot be one."""
    if not isinstance(jwk, dict):
        raise ValueError("a key must be a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > _MAX_TEXT:
        raise ValueError("every key needs a kid (a non-empty string)")
    private = [m for m in _PRIVATE_MEMBERS if m in jwk]
    if private:
        raise ValueError(f"key {kid!r} holds private key material ({', '.join(private)}): give the public key only")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise ValueError(f"key {kid!r} has use {use!r}; only signing keys ('sig') verify tokens")
    alg = jwk.get("alg")
    if alg is not None and alg not in ALGORITHMS:
        raise ValueError(f"key {kid!r} has alg {alg!r} (allowed: {', '.join(ALGORITHMS)})")
    kty = jwk.get("kty")
    try:
        if kty == "EC":
            if jwk.get("crv") != "P-384":
                raise ValueError(f"EC key {kid!r} is on curve {jwk.get('crv')!r}; ES384 needs 'P-384'")
            loaded = ECAlgorithm.from_jwk(jwk)
            if not isinstance(loaded, ec.EllipticCurvePublicKey):
                raise ValueError(f"key {kid!r} is not a public EC key")
            return _Key(kid, "EC", alg, loaded)
        if kty == "RSA":
            loaded_rsa = RSAAlgorithm.from_jwk(jwk)
            if not isinstance(loaded_rsa, rsa.RSAPublicKey):
                raise ValueError(f"key {kid!r} is not a public RSA key")
            if loaded_rsa.key_size < MIN_RSA_BITS:
                raise ValueError(f"RSA key {kid!r} has {loaded_rsa.key_size} bits (at least {MIN_RSA_BITS})")
            return _Key(kid, "RSA", alg, loaded_rsa)
    except jwt.PyJWTError as exc:
        raise ValueError(f"key {kid!r} cannot be read: {exc}") from None
    raise ValueError(f"key {kid!r} has kty {kty!r} (allowed: 'EC' with P-384, 'RSA')")


def _parse_jwks(data: Any, *, strict: bool) -> dict[str, _Key]:
    """The keys of a JWK Set by kid.

    ``strict`` (configured keys): any unusable key is an error. Otherwise (a fetched set) keys
    this service cannot use (other algorithms, encryption keys) are skipped. A kid that occurs
    twice is ambiguous: an error when strict, dropped otherwise.
    """
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError('a JWK Set is a JSON object {"keys": [...]}')
    keys: dict[str, _Key] = {}
    twice: set[str] = set()
    for i, jwk in enumerate(data["keys"]):
        try:
            key = _parse_jwk(jwk)
        except ValueError as exc:
            if strict:
                raise ValueError(f"keys[{i}]: {exc}") from None
            continue
        if key.kid in keys:
            if strict:
                raise ValueError(f"keys[{i}]: kid {key.kid!r} occurs twice (a kid must be unique in its set)")
            twice.add(key.kid)
        keys[key.kid] = key
    for kid in twice:
        del keys[kid]
    if strict and not keys:
        raise ValueError("the key set holds no key")
    return keys


def _read_jwks_file(path: Path) -> dict[str, _Key]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    return _parse_jwks(data, strict=True)


# ----------------------------------------------------------------------------- URLs


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None


def _url_problem(url: str, allow_http_loopback: bool) -> str | None:
    """Why ``url`` cannot name a key set (None when it can)."""
    if any(ch.isspace() or ch == "\\" for ch in url):
        return "a URL has no spaces or backslashes"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host or _port(parts) is None:
        return "an absolute URL with a host is needed"
    if parts.username is not None or parts.password is not None:
        return "no user name or password in the URL"
    if parts.fragment:
        return "no #fragment in the URL"
    segments = parts.path.split("/")
    if any(s in (".", "..") for s in segments) or re.search(r"%(2e|2f|5c)", parts.path, re.IGNORECASE):
        return "no '.' or '..' segments or encoded dots and slashes in the path"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and allow_http_loopback and host in LOOPBACK_HOSTS:
        return None
    if parts.scheme == "http" and host in LOOPBACK_HOSTS:
        return "plain http only with allow_http_loopback (tests)"
    return "https is required"


def _under(url: str, prefix: str) -> bool:
    """``url`` is ``prefix`` or lies under it: same scheme, host and port; path under its path."""
    if url == prefix:
        return True
    u, p = urlsplit(url), urlsplit(prefix)
    if (u.scheme, (u.hostname or "").lower(), _port(u)) != (p.scheme, (p.hostname or "").lower(), _port(p)):
        return False
    if p.query or u.query:
        return False  # a query string only by exact match (above)
    base = p.path if p.path.endswith("/") else p.path + "/"
    return u.path == p.path or u.path.startswith(base)


# ----------------------------------------------------------------------------- settings


class TrustedIssuer(BaseModel):
    """One EHR this service trusts: the ``iss`` of its tokens and where its public keys are.

    Parameters
    ----------
    iss
        The exact ``iss`` claim of the EHR's tokens.
    jku_allow
        URL prefixes a token's ``jku`` header may name (the EHR's JWK Set URL, or a folder above
        it); empty when the keys are configured here.
    keys
        The EHR's JWK Set inline (public keys only), used for tokens without ``jku``.
    keys_file
        A JSON file holding the JWK Set, relative to the trust file; used like ``keys``.

    Examples
    --------
    >>> TrustedIssuer(iss="https://ehr.example.org", jku_allow=["https://ehr.example.org/jwks"]).iss
    'https://ehr.example.org'
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1, max_length=_MAX_TEXT)
    jku_allow: list[str] = Field(default_factory=list)
    keys: dict[str, Any] | None = None
    keys_file: Path | None = None

    @field_validator("keys")
    @classmethod
    def _keys_usable(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            _parse_jwks(value, strict=True)
        return value

    @field_validator("keys_file")
    @classmethod
    def _keys_file_usable(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        base = (info.context or {}).get("base_dir")
        path = value if value.is_absolute() or base is None else Path(base) / value
        _read_jwks_file(path)
        return path

    @model_validator(mode="after")
    def _some_key_source(self) -> TrustedIssuer:
        if not self.jku_allow and self.keys is None and self.keys_file is None:
            raise ValueError("give jku_allow (URL prefixes of the EHR's key set), keys or keys_file")
        return self

    def configured_keys(self) -> dict[str, _Key]:
        """The keys given by ``keys`` and ``keys_file``, by kid (read now).

        Returns
        -------
        dict
            kid -> key; empty when the issuer's keys come only from ``jku``.

        Raises
        ------
        ValueError
            A kid given twice, or a ``keys_file`` that no longer reads.

        Examples
        --------
        >>> TrustedIssuer(iss="https://ehr.example.org", jku_allow=["https://ehr.example.org/"]).configured_keys()
        {}
        """
        keys = _parse_jwks(self.keys, strict=True) if self.keys is not None else {}
        if self.keys_file is not None:
            for kid, key in _read_jwks_file(self.keys_file).items():
                if kid in keys:
                    raise ValueError(f"issuer {self.iss!r}: kid {kid!r} is both in keys and in keys_file")
                keys[kid] = key
        return keys


class TrustSettings(BaseModel):
    """Which EHRs may call, and how strictly their tokens are checked.

    Parameters
    ----------
    issuers
        The trusted EHRs (at least one; each ``iss`` once).
    algorithms
        The accepted signing algorithms: ES384 and RS384 (the spec's recommendation), or one of them.
    leeway_seconds
        Clock skew allowed between the EHR and this service (0-60 s).
    max_lifetime_seconds
        The longest ``exp - iat`` accepted: a token is for one call, so it lives minutes at most.
    jwks_cache_seconds
        How long a fetched JWK Set is used before it is fetched again.
    jwks_refetch_seconds
        The shortest time between two fetches of one key set (an unknown ``kid`` triggers one).
    jwks_timeout_seconds
        Connect and read timeout of a key set fetch.
    jwks_max_bytes
        The largest key set accepted.
    max_token_bytes
        The largest token accepted (checked before anything is parsed).
    replay_cache_size
        How many ``jti`` the replay cache holds at most; when it is full of live tokens, new
        tokens are refused rather than a replay let through.
    allow_http_loopback
        Allow ``http://127.0.0.1`` and ``http://localhost`` key set URLs (tests only).

    Examples
    --------
    >>> settings = TrustSettings(issuers=[TrustedIssuer(iss="https://ehr.example.org",
    ...                                                 jku_allow=["https://ehr.example.org/"])])
    >>> settings.algorithms, settings.max_lifetime_seconds
    (('ES384', 'RS384'), 300)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuers: list[TrustedIssuer] = Field(min_length=1)
    algorithms: tuple[Algorithm, ...] = ("ES384", "RS384")
    leeway_seconds: int = Field(default=5, ge=0, le=60)
    max_lifetime_seconds: int = Field(default=300, ge=1, le=3600)
    jwks_cache_seconds: int = Field(default=600, ge=0, le=86400)
    jwks_refetch_seconds: int = Field(default=30, ge=0, le=3600)
    jwks_timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    jwks_max_bytes: int = Field(default=65536, ge=1024, le=1048576)
    max_token_bytes: int = Field(default=8192, ge=512, le=65536)
    replay_cache_size: int = Field(default=100_000, ge=1, le=10_000_000)
    allow_http_loopback: bool = False

    @field_validator("algorithms")
    @classmethod
    def _some_algorithm(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError(f"name at least one of {', '.join(ALGORITHMS)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrustSettings:
        seen: set[str] = set()
        for i, issuer in enumerate(self.issuers):
            if issuer.iss in seen:
                raise ValueError(f"issuers[{i}].iss: {issuer.iss!r} is listed twice")
            seen.add(issuer.iss)
            for j, prefix in enumerate(issuer.jku_allow):
                problem = _url_problem(prefix, self.allow_http_loopback)
                if problem:
                    raise ValueError(f"issuers[{i}].jku_allow[{j}]: {prefix!r}: {problem}")
        return self


def _dotted(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _trust_problems(exc: ValidationError) -> list[str]:
    problems = []
    for err in exc.errors(include_url=False):
        where = _dotted(tuple(err["loc"]))
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            model = TrustedIssuer if "issuers" in err["loc"] else TrustSettings
            message = f"unknown field (allowed here: {', '.join(model.model_fields)})"
        problems.append(f"{where}: {message}" if where else message)
    return problems


def parse_trust(data: Any, *, source: str = "trust settings", base_dir: Path | None = None) -> TrustSettings:
    """Trust settings from already-parsed data (a mapping as in the trust file).

    Parameters
    ----------
    data
        The settings: ``issuers`` and the optional limits of :class:`TrustSettings`.
    source
        What to call the data in error messages.
    base_dir
        The folder relative ``keys_file`` paths start from (None: the working directory).

    Returns
    -------
    TrustSettings
        The validated settings; every key file was read and checked.

    Raises
    ------
    TrustError
        Every problem, each naming its field and what is allowed.

    Examples
    --------
    >>> parse_trust({"issuers": [{"iss": "https://ehr.example.org", "jku_allow": ["https://ehr.example.org/"]}],
    ...              "leeway_seconds": 2}).leeway_seconds
    2
    >>> try:
    ...     parse_trust({"issuers": [{"iss": "https://ehr.example.org", "jku_allow": ["https://ehr.example.org/"]}],
    ...                  "algorithms": ["HS256"]})
    ... except TrustError as exc:
    ...     print(*exc.problems, sep="\\n")
    algorithms[0]: Input should be 'ES384' or 'RS384'
    """
    if not isinstance(data, dict):
        raise TrustError(["the settings must be a mapping with 'issuers'"], source)
    try:
        return TrustSettings.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise TrustError(_trust_problems(exc), source) from None


def load_trust(path: Path) -> TrustSettings:
    """The trust file: which EHRs may call and with which keys (YAML, or JSON by its ``.json`` suffix).

    Parameters
    ----------
    path
        The file; relative ``keys_file`` paths in it start from its folder.

    Returns
    -------
    TrustSettings
        The validated settings.

    Raises
    ------
    TrustError
        The file cannot be read or parsed, or a field is wrong (each problem names it).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "trust.yaml"
    ...     _ = path.write_text("issuers:\\n  - iss: https://ehr.example.org\\n"
    ...                         "    jku_allow: [https://ehr.example.org/jwks.json]\\n")
    ...     load_trust(path).issuers[0].jku_allow
    ['https://ehr.example.org/jwks.json']
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TrustError([f"cannot read the file: {exc.strerror or exc}"], source) from None
    except UnicodeDecodeError:
        raise TrustError(["the file is not UTF-8 text"], source) from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise TrustError([f"not {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"], source) from None
    return parse_trust(data, source=source, base_dir=path.parent)


# ----------------------------------------------------------------------------- replay cache

#: What :meth:`ReplayCache.add` found.
Seen = Literal["new", "replay", "full"]


class ReplayCache:
    """The ``jti`` of the tokens still alive, to refuse a token used twice; thread-safe, bounded.

    Each entry leaves when its token expires, so the cache holds at most the tokens of the last
    ``max_lifetime_seconds``; when ``max_entries`` live tokens are in it, :meth:`add` answers
    ``full`` (the caller refuses the token: better a refused call than a replay let in).

    Parameters
    ----------
    max_entries
        The most entries held at once.

    Examples
    --------
    >>> cache = ReplayCache(max_entries=2)
    >>> cache.add("ehr|a", expires_at=100, now=0), cache.add("ehr|a", expires_at=100, now=50)
    ('new', 'replay')
    >>> cache.add("ehr|b", expires_at=100, now=50), cache.add("ehr|c", expires_at=200, now=60)
    ('new', 'full')
    >>> cache.add("ehr|c", expires_at=200, now=101), len(cache)  # a and b expired
    ('new', 1)
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._expiry)

    def add(self, key: str, *, expires_at: float, now: float) -> Seen:
        """Record ``key`` until ``expires_at`` unless it is already there.

        Parameters
        ----------
        key
            The issuer and the ``jti``, joined.
        expires_at
            When the token expires (leeway included): the entry may go then.
        now
            The current time (the verifier's clock).

        Returns
        -------
        str
            ``new`` (recorded), ``replay`` (already there, alive) or ``full`` (no room).

        Examples
        --------
        >>> ReplayCache(10).add("ehr|x", expires_at=10, now=0)
        'new'
        """
        with self._lock:
            while self._heap and self._heap[0][0] <= now:
                when, old = heapq.heappop(self._heap)
                if self._expiry.get(old) == when:
                    del self._expiry[old]
            known = self._expiry.get(key)
            if known is not None and known > now:
                return "replay"
            if len(self._expiry) >= self.max_entries:
                return "full"
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return "new"


# ----------------------------------------------------------------------------- JWKS cache


@dataclass
class _KeySet:
    keys: dict[str, _Key] = field(default_factory=dict)
    fetched_at: float = -math.inf  # of the last good fetch
    attempted_at: float = -math.inf  # of the last fetch, good or not
    error: str | None = None  # why the last fetch failed
    lock: threading.Lock = field(default_factory=threading.Lock)


class _JwksCache:
    """Key sets fetched from allow-listed ``jku`` URLs, cached; refetched on an unknown kid."""

    def __init__(self, settings: TrustSettings, http: httpx.Client, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._sets: dict[str, _KeySet] = {}
        self._lock = threading.Lock()

    def key(self, url: str, kid: str) -> _Key:
        with self._lock:
            entry = self._sets.setdefault(url, _KeySet())
        s = self._settings
        with entry.lock:
            now = self._clock()
            if now - entry.fetched_at >= s.jwks_cache_seconds and now - entry.attempted_at >= s.jwks_refetch_seconds:
                self._refresh(url, entry, now)
            elif kid not in entry.keys and now - entry.attempted_at >= s.jwks_refetch_seconds:
                self._refresh(url, entry, now)  # the EHR may have rotated its keys
            if now - entry.fetched_at >= s.jwks_cache_seconds and entry.error is not None:
                raise AuthError("jwks", f"key set {url} unavailable: {entry.error}")
            key = entry.keys.get(kid)
            if key is None:
                raise AuthError("kid", f"kid {_short(kid)} is not in the key set {url}")
            return key

    def _refresh(self, url: str, entry: _KeySet, now: float) -> None:
        entry.attempted_at = now
        try:
            entry.keys = self._fetch(url)
        except AuthError as exc:
            entry.error = exc.reason
            if now - entry.fetched_at >= self._settings.jwks_cache_seconds:
                entry.keys = {}  # expired keys are not used (fail closed)
            return
        entry.fetched_at = now
        entry.error = None

    def _fetch(self, url: str) -> dict[str, _Key]:
        cap = self._settings.jwks_max_bytes
        body = bytearray()
        try:
            with self._http.stream("GET", url, headers={"Accept": "application/json"}, follow_redirects=False,
                                   timeout=self._settings.jwks_timeout_seconds) as response:
                if response.status_code != 200:
                    raise AuthError("jwks", f"fetching the key set answered HTTP {response.status_code}")
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > cap:
                    raise AuthError("jwks", f"the key set is larger than {cap} bytes")
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise AuthError("jwks", f"the key set is larger than {cap} bytes")
        except httpx.HTTPError as exc:
            raise AuthError("jwks", f"fetching the key set failed ({type(exc).__name__})") from None
        try:
            return _parse_jwks(json.loads(bytes(body)), strict=False)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AuthError("jwks", f"the key set is not a JWK Set: {str(exc)[:200]}") from None


# ----------------------------------------------------------------------------- the verifier


def _short(value: object) -> str:
    """A value from a token, quoted and cut short, safe for a log line."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"member {name!r} occurs twice")
        out[name] = value
    return out


def _segment(text: str, what: str) -> dict[str, Any]:
    try:
        raw = base64url_decode(text)
    except ValueError:
        raise AuthError("token", f"the token's {what} is not base64url") from None
    return _json_object(raw, what)


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError):
        raise AuthError("token", f"the token's {what} is not JSON (or repeats a member)") from None
    if not isinstance(data, dict):
        raise AuthError("token", f"the token's {what} is not a JSON object")
    return data


def _bearer(authorization: str | None, max_bytes: int) -> str:
    if authorization is None or not authorization.strip():
        raise AuthError("header", "no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("header", "the Authorization header is not 'Bearer <JWT>'")
    if len(token) > max_bytes:
        raise AuthError("token", f"the token is longer than {max_bytes} bytes")
    if not _TOKEN_CHARS.match(token):
        raise AuthError("token", "the token is not a compact JWS (three base64url parts)")
    return token


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise AuthError(name, f"claim {name} is missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AuthError(name, f"claim {name} is not a number of seconds")
    return float(value)


def _text_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise AuthError(name, f"claim {name} is missing or not a string of 1-{_MAX_TEXT} characters")
    return value


class TokenVerifier:
    """Checks the EHR's bearer token on every call to the CDS Hooks service.

    Thread-safe: one verifier serves every request (it holds the key set cache and the replay cache).

    Parameters
    ----------
    trust
        Which EHRs may call (see :func:`load_trust`); their configured keys are read now.
    http
        The client that fetches key sets (tests pass one; by default one with the settings'
        timeout, owned and closed by :meth:`close`).
    clock
        The current time in seconds since the epoch; tests pass a fixed clock.

    Raises
    ------
    TrustError
        A ``keys_file`` no longer reads, or a kid is given twice for one issuer.

    Examples
    --------
    >>> trust = parse_trust({"issuers": [{"iss": "https://ehr.example.org", "jku_allow": ["https://ehr.example.org/"]}]})
    >>> verifier = TokenVerifier(trust)
    >>> try:
    ...     verifier.verify(None, "https://cds.example.org/cds-services")
    ... except AuthError as exc:
    ...     print(exc.code)
    header
    >>> verifier.close()
    """

    def __init__(self, trust: TrustSettings, *, http: httpx.Client | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.trust = trust
        self._clock = clock
        self._own_http = http is None
        self._http = http if http is not None else httpx.Client(timeout=trust.jwks_timeout_seconds,
                                                                 follow_redirects=False)
        self._issuers = {issuer.iss: issuer for issuer in trust.issuers}
        try:
            self._configured = {issuer.iss: issuer.configured_keys() for issuer in trust.issuers}
        except ValueError as exc:
            raise TrustError([str(exc)]) from None
        self._jwks = _JwksCache(trust, self._http, clock)
        self.replay = ReplayCache(trust.replay_cache_size)

    def close(self) -> None:
        """Close the HTTP client if this verifier made it.

        Examples
        --------
        >>> TokenVerifier(parse_trust({"issuers": [{"iss": "x", "jku_allow": ["https://x.org/"]}]})).close()
        """
        if self._own_http:
            self._http.close()

    def verify(self, authorization: str | None, audience: str) -> Mapping[str, Any]:
        """The claims of the call's token, once every check of the spec has passed.

        Parameters
        ----------
        authorization
            The request's ``Authorization`` header (None when absent).
        audience
            The URL of the endpoint called, as the EHR knows it: ``{base}/cds-services`` for
            discovery, ``{base}/cds-services/{id}`` for a service, ``.../feedback`` for feedback.

        Returns
        -------
        Mapping
            The token's claims (read-only): ``iss``, ``aud``, ``exp``, ``iat``, ``jti``, and
            ``tenant`` when the EHR sent one.

        Raises
        ------
        AuthError
            The first check that failed, with its code and reason.

        Examples
        --------
        >>> trust = parse_trust({"issuers": [{"iss": "https://ehr.example.org", "jku_allow": ["https://ehr.example.org/"]}]})
        >>> try:
        ...     TokenVerifier(trust).verify("Basic dXNlcjpwYXNz", "https://cds.example.org/cds-services")
        ... except AuthError as exc:
        ...     print(exc.reason)
        the Authorization header is not 'Bearer <JWT>'
        """
        s = self.trust
        token = _bearer(authorization, s.max_token_bytes)
        head_b64, payload_b64, _ = token.split(".")
        header = _segment(head_b64, "header")
        unverified = _segment(payload_b64, "payload")

        alg = header.get("alg")
        if alg not in s.algorithms:
            raise AuthError("alg", f"alg {_short(alg)} is not accepted (accepted: {', '.join(s.algorithms)})")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise AuthError("typ", f"typ {_short(typ)} is not 'JWT'")
        if "crit" in header:
            raise AuthError("token", "the token has critical header extensions (crit) this service does not know")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > _MAX_TEXT:
            raise AuthError("kid", "the token's header has no kid")
        iss = unverified.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("iss", f"issuer {_short(iss)} is not trusted")

        key = self._key(issuer, header.get("jku"), kid)
        if _KEY_TYPE[alg] != key.kty or (key.alg is not None and key.alg != alg):
            raise AuthError("key", f"key {_short(kid)} is not a key for {alg}")
        try:
            verified = PyJWS().decode_complete(
                token, key.public, algorithms=[alg], options={"enforce_minimum_key_length": True})
        except jwt.InvalidSignatureError:
            raise AuthError("signature", f"the signature does not verify with key {_short(kid)} of {_short(iss)}") \
                from None
        except jwt.PyJWTError as exc:
            raise AuthError("token", f"the token cannot be verified ({type(exc).__name__})") from None
        claims = _json_object(verified["payload"], "payload")

        self._check_claims(claims, audience)
        jti = _text_claim(claims, "jti")
        now = self._clock()
        seen = self.replay.add(f"{iss}\x00{jti}", expires_at=_number(claims, "exp") + s.leeway_seconds, now=now)
        if seen == "replay":
            raise AuthError("replay", "jti already used by this issuer (token replayed)")
        if seen == "full":
            raise AuthError("replay", f"the replay cache is full ({s.replay_cache_size} live tokens); call refused")
        return MappingProxyType(claims)

    def _key(self, issuer: TrustedIssuer, jku: Any, kid: str) -> _Key:
        if jku is None:
            key = self._configured[issuer.iss].get(kid)
            if key is None:
                raise AuthError("kid", f"kid {_short(kid)} is not among the configured keys of {_short(issuer.iss)}"
                                if self._configured[issuer.iss] else
                                f"the token has no jku and no keys are configured for {_short(issuer.iss)}")
            return key
        if not isinstance(jku, str) or len(jku) > 2048:
            raise AuthError("jku", "jku is not a URL")
        problem = _url_problem(jku, self.trust.allow_http_loopback)
        if problem or not any(_under(jku, prefix) for prefix in issuer.jku_allow):
            raise AuthError("jku", f"jku {_short(jku)} is not allowed for {_short(issuer.iss)}")
        return self._jwks.key(jku, kid)

    def _check_claims(self, claims: Mapping[str, Any], audience: str) -> None:
        s = self.trust
        now = self._clock()
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if not audiences or not all(isinstance(a, str) for a in audiences):
            raise AuthError("aud", "claim aud is missing or not a string or list of strings")
        if audience not in audiences:
            raise AuthError("aud", f"aud {_short(aud)} does not name this endpoint {audience!r}")
        exp = _number(claims, "exp")
        iat = _number(claims, "iat")
        if now > exp + s.leeway_seconds:
            raise AuthError("exp", f"the token expired {now - exp:.0f} s ago")
        if iat > now + s.leeway_seconds:
            raise AuthError("iat", f"the token is issued {iat - now:.0f} s in the future")
        if "nbf" in claims and _number(claims, "nbf") > now + s.leeway_seconds:
            raise AuthError("nbf", "the token is not valid yet (nbf)")
        if exp - iat > s.max_lifetime_seconds:
            raise AuthError("lifetime", f"the token lives {exp - iat:.0f} s (at most {s.max_lifetime_seconds} s)")
        if exp <= iat:
            raise AuthError("lifetime", "the token expires before it is issued")
