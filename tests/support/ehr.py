"""A stand-in EHR for the CDS Hooks tests and the benchmark: its keys, its JWK Set, its FHIR server.

What an EHR does when it calls a CDS Hooks service (CDS Hooks 2.0, "Trusting CDS Clients" and
"FHIR Resource Access"; github:cds-hooks/docs ``docs/specification/current.md``):

- :class:`SigningKey`: a fresh ES384 or RS384 key pair (or another algorithm, for attack cases),
  its public JWK and :func:`jwks` for a key set;
- :func:`make_token`: a signed JWT with the claims the spec requires (``iss``, ``aud``, ``exp``,
  ``iat``, ``jti``; header ``alg``, ``kid``, ``typ``, optional ``jku``), each one replaceable or
  removable so a test can break exactly one thing;
- :class:`JwksServer`: a real HTTP server on 127.0.0.1 (a thread) serving the key set at
  ``/.well-known/jwks.json`` and counting the requests (a test proves that a refused token made
  no fetch);
- :class:`FhirServer`: a small FHIR endpoint on 127.0.0.1 serving the resources of one Bundle for
  the no-prefetch path (``Patient/{id}``, ``Condition?patient={id}``, ... answered with
  ``searchset`` Bundles), requiring one bearer token and counting the requests;
- :class:`EhrClient`: calls a service with a freshly signed token per request whose ``aud`` is the
  exact URL called (the spec: ``{base}/cds-services`` for discovery, ``{base}/cds-services/{id}``
  for a service; the feedback URL for feedback), and builds hook requests (:meth:`EhrClient.hook_request`).

Nothing here reaches beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

JWKS_PATH = "/.well-known/jwks.json"
"""Where :class:`JwksServer` serves the key set (the path is a convention, the spec names none)."""

_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


# ----------------------------------------------------------------------------- keys and tokens


@dataclass(frozen=True)
class SigningKey:
    """One key pair of the EHR: the private half signs, the public half goes in the JWK Set.

    ``alg`` is what tokens signed with it say in their header; ``declare_alg`` puts it in the JWK
    too (the ``alg`` member is optional in a JWK).
    """

    alg: str
    kid: str
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    declare_alg: bool = True

    @classmethod
    def generate(cls, alg: str = "ES384", kid: str | None = None, *, rsa_bits: int = 2048) -> SigningKey:
        """A new key for ``alg`` (ES256/ES384/ES512 on their curves, RS* as RSA of ``rsa_bits``)."""
        kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}"
        if alg.startswith("ES"):
            return cls(alg, kid, ec.generate_private_key(_CURVES[alg]))
        if alg.startswith(("RS", "PS")):
            return cls(alg, kid, rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits))
        raise ValueError(f"no key type for {alg!r}")

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWK (``kty``, ``kid``, ``use: sig``, ``alg`` when declared)."""
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig"})
        if self.declare_alg:
            jwk["alg"] = self.alg
        return jwk

    def public_pem(self) -> bytes:
        """The public key in PEM (what an attacker uses as an HMAC secret in the HS256 attack)."""
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def jwks(*keys: SigningKey) -> dict[str, Any]:
    """A JWK Set holding the public halves of ``keys``."""
    return {"keys": [key.public_jwk() for key in keys]}


#: Leave a claim or header member out: ``make_token(..., claims={"exp": DROP})``.
DROP: Any = object()


def make_token(
    key: SigningKey,
    *,
    iss: str,
    aud: str | list[str],
    now: float | None = None,
    lifetime: float = 60,
    jti: str | None = None,
    jku: str | None = None,
    alg: str | None = None,
    claims: Mapping[str, Any] | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    """A JWT as the spec's EHR sends it, signed by ``key``.

    ``claims`` and ``headers`` replace or add members; a value of :data:`DROP` removes one.
    ``alg`` signs with another algorithm than the key's (e.g. RS256 with an RSA key).
    """
    now = time.time() if now is None else now
    payload: dict[str, Any] = {"iss": iss, "aud": aud, "iat": int(now), "exp": int(now + lifetime),
                               "jti": jti or str(uuid.uuid4())}
    header: dict[str, Any] = {"kid": key.kid, "typ": "JWT"}
    if jku is not None:
        header["jku"] = jku
    for target, changes in ((payload, claims), (header, headers)):
        for name, value in (changes or {}).items():
            if value is DROP:
                target.pop(name, None)
            else:
                target[name] = value
    if "typ" not in header:
        header["typ"] = None  # PyJWT adds typ unless told None
    token: str = jwt.encode(payload, key.private, algorithm=alg or key.alg, headers=header)
    return token


def forge_token(header: Mapping[str, Any], payload: Mapping[str, Any],
                sign: Callable[[bytes], bytes] | None = None) -> str:
    """A compact JWS built by hand (for the attacks PyJWT refuses to produce): ``sign`` gets the
    signing input and returns the signature; None gives an empty signature (``alg: none``)."""
    def part(data: bytes) -> str:
        return jwt.utils.base64url_encode(data).decode("ascii")

    signing_input = (part(json.dumps(dict(header)).encode()) + "." + part(json.dumps(dict(payload)).encode()))
    signature = b"" if sign is None else sign(signing_input.encode("ascii"))
    return signing_input + "." + part(signature)


# ----------------------------------------------------------------------------- local HTTP servers


@dataclass
class Recorded:
    """One request a local server received."""

    method: str
    path: str  # with its query string
    authorization: str | None


@dataclass
class Answer:
    """What a local server sends back."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class _QuietServer(ThreadingHTTPServer):
    """A threaded server that does not print a traceback when a client hangs up early (the
    verifier stops reading an oversized key set on purpose)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 that answers GETs through :meth:`answer` and records them."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle
    def start(self) -> LocalServer:
        """Listen on a free port of 127.0.0.1 and serve in a daemon thread."""
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._handle(self)

            def do_POST(self) -> None:
                server._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> LocalServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port it listens on."""
        assert self._httpd is not None, "the server is not started"
        port: int = self._httpd.server_address[1]
        return port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def request_count(self) -> int:
        """How many requests it received."""
        with self._lock:
            return len(self.requests)

    def reset_count(self) -> None:
        """Forget the requests received so far."""
        with self._lock:
            self.requests.clear()

    # --- handling
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        auth = handler.headers.get("Authorization")
        with self._lock:
            self.requests.append(Recorded(handler.command, handler.path, auth))
        length = int(handler.headers.get("Content-Length") or 0)
        if length:
            handler.rfile.read(length)
        try:
            answer = self.answer(handler.command, handler.path, auth)
        except Exception as exc:
            answer = Answer(500, f"harness error: {type(exc).__name__}: {exc}".encode(), "text/plain")
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(answer.body)

    def answer(self, method: str, path: str, authorization: str | None) -> Answer:
        raise NotImplementedError


class JwksServer(LocalServer):
    """The EHR's key set over HTTP on 127.0.0.1, at :data:`JWKS_PATH`; counts the fetches.

    Change :attr:`jwks` to rotate keys; set :attr:`override` to answer something else (an
    oversized body, an error status, a redirect) to test the verifier's limits.
    """

    def __init__(self, key_set: Mapping[str, Any] | None = None, path: str = JWKS_PATH) -> None:
        super().__init__()
        self.jwks: dict[str, Any] = dict(key_set or {"keys": []})
        self.path = path
        self.override: Answer | None = None

    def __enter__(self) -> JwksServer:
        super().__enter__()
        return self

    @property
    def url(self) -> str:
        """The key set's URL: what tokens carry as ``jku``."""
        return self.base_url + self.path

    def answer(self, method: str, path: str, authorization: str | None) -> Answer:
        if self.override is not None:
            return self.override
        if method != "GET" or urlsplit(path).path != self.path:
            return Answer(404, b'{"error": "not found"}')
        return Answer(200, json.dumps(self.jwks).encode(), "application/json")


# ----------------------------------------------------------------------------- FHIR


def _resource_type_and_id(entry: Mapping[str, Any]) -> tuple[str, str]:
    resource = entry["resource"]
    rid = resource.get("id")
    if not rid:
        full = str(entry.get("fullUrl", ""))
        rid = full.rsplit(":", 1)[-1].rsplit("/", 1)[-1]
    return str(resource["resourceType"]), str(rid)


def _rewrite_refs(value: Any, refs: Mapping[str, str]) -> Any:
    """A copy of ``value`` whose ``reference`` members point at ``Type/id`` instead of ``urn:uuid:``."""
    if isinstance(value, dict):
        out = {k: _rewrite_refs(v, refs) for k, v in value.items()}
        ref = out.get("reference")
        if isinstance(ref, str) and ref in refs:
            out["reference"] = refs[ref]
        return out
    if isinstance(value, list):
        return [_rewrite_refs(v, refs) for v in value]
    return value


def _outcome(status: int, code: str, text: str) -> Answer:
    body = {"resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return Answer(status, json.dumps(body).encode(), "application/fhir+json")


#: The search parameters that name the patient, by what they point at (``subject`` or ``patient``).
PATIENT_PARAMS = ("patient", "subject")


class FhirServer(LocalServer):
    """A FHIR R4 endpoint on 127.0.0.1 holding the resources of one Bundle (the no-prefetch path).

    Reads (``GET {Type}/{id}``) and searches (``GET {Type}?patient={id}``, ``subject=Patient/{id}``,
    ``_id=...``; other parameters are ignored, as a lenient server does) are answered from the
    Bundle; searches return ``searchset`` Bundles. ``urn:uuid:`` references are rewritten to
    ``Type/id``, as a server that stored the Bundle would. Every request needs
    ``Authorization: Bearer <access_token>`` (else 401); ``GET metadata`` does not.
    """

    def __init__(self, bundle: Mapping[str, Any], access_token: str | None = None) -> None:
        super().__init__()
        self.access_token = access_token or uuid.uuid4().hex
        entries = [e for e in bundle.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
        refs: dict[str, str] = {}
        for entry in entries:
            rtype, rid = _resource_type_and_id(entry)
            if str(entry.get("fullUrl", "")).startswith("urn:uuid:"):
                refs[entry["fullUrl"]] = f"{rtype}/{rid}"
        self.resources: dict[tuple[str, str], dict[str, Any]] = {}
        for entry in entries:
            rtype, rid = _resource_type_and_id(entry)
            resource = _rewrite_refs(entry["resource"], refs)
            resource["id"] = rid
            self.resources[(rtype, rid)] = resource

    def __enter__(self) -> FhirServer:
        super().__enter__()
        return self

    def fhir_authorization(self, patient: str | None = None, *, scope: str = "patient/*.read",
                           subject: str = "netcds") -> dict[str, Any]:
        """The ``fhirAuthorization`` member of a hook request that gives access to this server."""
        grant: dict[str, Any] = {"access_token": self.access_token, "token_type": "Bearer", "expires_in": 300,
                                 "scope": scope, "subject": subject}
        if patient is not None:
            grant["patient"] = patient
        return grant

    def search_paths(self) -> list[str]:
        """The paths (with query) requested so far, in order."""
        with self._lock:
            return [r.path for r in self.requests]

    def answer(self, method: str, path: str, authorization: str | None) -> Answer:
        parts = urlsplit(path)
        segments = [s for s in parts.path.split("/") if s]
        if method != "GET":
            return _outcome(405, "not-supported", "only GET (read and search) is served")
        if segments == ["metadata"]:
            body = {"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
                    "fhirVersion": "4.0.1", "format": ["json"]}
            return Answer(200, json.dumps(body).encode(), "application/fhir+json")
        if authorization != f"Bearer {self.access_token}":
            return Answer(401, b"", "application/fhir+json", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if len(segments) == 2:
            resource = self.resources.get((segments[0], segments[1]))
            if resource is None:
                return _outcome(404, "not-found", f"{segments[0]}/{segments[1]} is not known")
            return Answer(200, json.dumps(resource).encode(), "application/fhir+json")
        if len(segments) == 1:
            matches = self._search(segments[0], parse_qs(parts.query))
            bundle = {
                "resourceType": "Bundle", "type": "searchset", "total": len(matches),
                "link": [{"relation": "self", "url": self.base_url + path}],
                "entry": [{"fullUrl": f"{self.base_url}/{r['resourceType']}/{r['id']}", "resource": r,
                           "search": {"mode": "match"}} for r in matches],
            }
            return Answer(200, json.dumps(bundle).encode(), "application/fhir+json")
        return _outcome(400, "not-supported", "only Type/id and Type?params are served")

    def _search(self, rtype: str, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        found = [r for (t, _), r in self.resources.items() if t == rtype]
        if "_id" in query:
            wanted = {v for value in query["_id"] for v in value.split(",")}
            found = [r for r in found if r["id"] in wanted]
        for name in PATIENT_PARAMS:
            if name in query:
                wanted = {_patient_ref(v) for value in query[name] for v in value.split(",")}
                found = [r for r in found if _refers_to(r, wanted)]
        return found


def _patient_ref(value: str) -> str:
    return value if "/" in value else f"Patient/{value}"


def _refers_to(resource: Mapping[str, Any], patients: Iterable[str]) -> bool:
    wanted = set(patients)
    if resource.get("resourceType") == "Patient":
        return f"Patient/{resource.get('id')}" in wanted
    for member in PATIENT_PARAMS:
        ref = resource.get(member)
        if isinstance(ref, dict) and ref.get("reference") in wanted:
            return True
    return False


# ----------------------------------------------------------------------------- the EHR as a client


@dataclass
class EhrClient:
    """Calls a CDS Hooks service as an EHR does: a fresh signed token for each request.

    The token's ``aud`` is the exact URL called; ``iss`` and the key are the EHR's; ``jku`` is sent
    when given (the URL of a :class:`JwksServer`). ``token_claims`` / ``token_headers`` change
    every token (see :func:`make_token`); each call may change its own too.
    """

    base_url: str
    key: SigningKey
    iss: str
    jku: str | None = None
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0, trust_env=False))
    lifetime: float = 60
    tokens_sent: int = 0

    def url(self, path: str) -> str:
        """The full URL of ``path`` under the service's base URL."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def token_for(self, url: str, **options: Any) -> str:
        """A fresh token whose ``aud`` is ``url`` (options go to :func:`make_token`)."""
        options.setdefault("jku", self.jku)
        options.setdefault("lifetime", self.lifetime)
        self.tokens_sent += 1
        return make_token(self.key, iss=self.iss, aud=options.pop("aud", url), **options)

    def request(self, method: str, path: str, *, json_body: Any = None, content: bytes | None = None,
                authorization: str | object | None = DROP, **token_options: Any) -> httpx.Response:
        """``method`` on ``path`` with ``Authorization: Bearer <fresh token>``.

        ``authorization`` replaces the header (None: no header at all); by default a token is
        signed for the URL.
        """
        url = self.url(path)
        headers: dict[str, str] = {}
        if authorization is DROP:
            headers["Authorization"] = "Bearer " + self.token_for(url, **token_options)
        elif isinstance(authorization, str):
            headers["Authorization"] = authorization
        if content is not None:
            headers["Content-Type"] = "application/json"
            return self.http.request(method, url, content=content, headers=headers)
        return self.http.request(method, url, json=json_body, headers=headers)

    def discovery(self, **token_options: Any) -> httpx.Response:
        """``GET {base}/cds-services`` (the token's ``aud`` is that URL)."""
        return self.request("GET", "cds-services", **token_options)

    def call(self, service_id: str, body: Any, **token_options: Any) -> httpx.Response:
        """``POST {base}/cds-services/{service_id}`` with the hook request ``body``."""
        return self.request("POST", f"cds-services/{service_id}", json_body=body, **token_options)

    def feedback(self, service_id: str, body: Any, **token_options: Any) -> httpx.Response:
        """``POST {base}/cds-services/{service_id}/feedback``."""
        return self.request("POST", f"cds-services/{service_id}/feedback", json_body=body, **token_options)

    @staticmethod
    def hook_request(hook: str, context: Mapping[str, Any], *, prefetch: Mapping[str, Any] | None = None,
                     fhir_server: str | None = None, fhir_authorization: Mapping[str, Any] | None = None,
                     ) -> dict[str, Any]:
        """A hook request body (spec: ``hook``, ``hookInstance``, ``context``; ``fhirServer``,
        ``fhirAuthorization`` and ``prefetch`` when given)."""
        body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": dict(context)}
        if fhir_server is not None:
            body["fhirServer"] = fhir_server
        if fhir_authorization is not None:
            body["fhirAuthorization"] = dict(fhir_authorization)
        if prefetch is not None:
            body["prefetch"] = dict(prefetch)
        return body

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()
