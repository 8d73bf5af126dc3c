"""The CDS Hooks service's gate: the EHR's JWT checked as the spec asks, attacks refused.

Real parts: keys generated here (ES384, RS384 and the wrong kinds), a real JWK Set server on
127.0.0.1 (tests/support/ehr.py) whose request counter proves when no fetch was made, and a
fixed clock (no test depends on wall-clock time). Spec: CDS Hooks 2.0, "Trusting CDS Clients"
(github:cds-hooks/docs, docs/specification/current.md).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cds.hooks.security import AuthError, TokenVerifier, TrustError, TrustSettings, load_trust, parse_trust
from tests.support.ehr import DROP, JWKS_PATH, Answer, JwksServer, SigningKey, forge_token, jwks, make_token

FIXTURES = Path(__file__).parent / "fixtures" / "hooks"
NOW = 1_800_000_000.0
ISS = "https://ehr.example.org"
STATIC_ISS = "https://static-ehr.example.org"
SERVICE = "https://cds.example.org/cds-services/netcds-patient-view"
DISCOVERY = "https://cds.example.org/cds-services"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def es_key() -> SigningKey:
    return SigningKey.generate("ES384", "ehr-es")


@pytest.fixture(scope="module")
def rs_key() -> SigningKey:
    return SigningKey.generate("RS384", "ehr-rs")


@pytest.fixture(scope="module")
def static_key() -> SigningKey:
    return SigningKey.generate("RS384", "static-rs")


@pytest.fixture
def jwks_server(es_key: SigningKey, rs_key: SigningKey) -> Iterator[JwksServer]:
    with JwksServer(jwks(es_key, rs_key)) as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _trust(jwks_server: JwksServer, static_key: SigningKey, **limits: Any) -> TrustSettings:
    return parse_trust({
        "issuers": [
            {"iss": ISS, "jku_allow": [jwks_server.base_url + "/.well-known/"]},
            {"iss": STATIC_ISS, "keys": jwks(static_key)},
        ],
        "allow_http_loopback": True,
        **limits,
    })


@pytest.fixture
def verifier(jwks_server: JwksServer, static_key: SigningKey, clock: Clock) -> Iterator[TokenVerifier]:
    with httpx.Client(trust_env=False) as http:
        yield TokenVerifier(_trust(jwks_server, static_key), http=http, clock=clock)


def token(key: SigningKey, server: JwksServer | None, **options: Any) -> str:
    """A good token for SERVICE from ISS at NOW (options change it)."""
    options.setdefault("iss", ISS)
    options.setdefault("aud", SERVICE)
    options.setdefault("now", NOW)
    if server is not None:
        options.setdefault("jku", server.url)
    return make_token(key, **options)


def refused(verifier: TokenVerifier, authorization: str | None, audience: str = SERVICE) -> AuthError:
    with pytest.raises(AuthError) as caught:
        verifier.verify(authorization, audience)
    return caught.value


# ----------------------------------------------------------------------------- accepted


def test_good_es384_token_from_allowed_jku(verifier: TokenVerifier, es_key: SigningKey,
                                           jwks_server: JwksServer) -> None:
    claims = verifier.verify("Bearer " + token(es_key, jwks_server, jti="j-1", claims={"tenant": "t-9"}), SERVICE)
    assert (claims["iss"], claims["aud"], claims["jti"], claims["tenant"]) == (ISS, SERVICE, "j-1", "t-9")
    verifier.verify("Bearer " + token(es_key, jwks_server), SERVICE)
    assert jwks_server.request_count == 1, "the key set is cached"


def test_good_rs384_token_from_allowed_jku_and_from_configured_keys(
        verifier: TokenVerifier, rs_key: SigningKey, static_key: SigningKey, jwks_server: JwksServer) -> None:
    assert verifier.verify("Bearer " + token(rs_key, jwks_server), SERVICE)["iss"] == ISS
    assert verifier.verify("Bearer " + token(static_key, None, iss=STATIC_ISS), SERVICE)["iss"] == STATIC_ISS
    assert jwks_server.request_count == 1


def test_aud_as_a_list_and_discovery_audience(verifier: TokenVerifier, es_key: SigningKey,
                                              jwks_server: JwksServer) -> None:
    verifier.verify("Bearer " + token(es_key, jwks_server, aud=[SERVICE]), SERVICE)
    verifier.verify("Bearer " + token(es_key, jwks_server, aud=DISCOVERY), DISCOVERY)


def test_clock_skew_within_leeway_is_accepted(verifier: TokenVerifier, es_key: SigningKey,
                                              jwks_server: JwksServer, clock: Clock) -> None:
    verifier.verify("Bearer " + token(es_key, jwks_server, now=NOW + 4), SERVICE)  # iat 4 s ahead
    clock.now = NOW + 60 + 4  # exp passed 4 s ago, leeway 5 s
    verifier.verify("Bearer " + token(es_key, jwks_server, lifetime=60), SERVICE)


# ----------------------------------------------------------------------------- algorithm attacks


def test_alg_none_is_refused(verifier: TokenVerifier, jwks_server: JwksServer) -> None:
    forged = forge_token({"alg": "none", "typ": "JWT", "kid": "ehr-es", "jku": jwks_server.url},
                         {"iss": ISS, "aud": SERVICE, "iat": NOW, "exp": NOW + 60, "jti": "n"})
    assert refused(verifier, "Bearer " + forged).code == "alg"
    assert jwks_server.request_count == 0


def test_hs256_with_the_public_key_as_secret_is_refused(verifier: TokenVerifier, rs_key: SigningKey,
                                                        jwks_server: JwksServer) -> None:
    secret = rs_key.public_pem()
    forged = forge_token({"alg": "HS256", "typ": "JWT", "kid": rs_key.kid, "jku": jwks_server.url},
                         {"iss": ISS, "aud": SERVICE, "iat": NOW, "exp": NOW + 60, "jti": "h"},
                         lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest())
    assert refused(verifier, "Bearer " + forged).code == "alg"
    assert jwks_server.request_count == 0


@pytest.mark.parametrize("alg", ["RS256", "PS384"])
def test_other_rsa_algorithms_are_refused(verifier: TokenVerifier, rs_key: SigningKey,
                                          jwks_server: JwksServer, alg: str) -> None:
    error = refused(verifier, "Bearer " + token(rs_key, jwks_server, alg=alg))
    assert error.code == "alg" and alg in error.reason


def test_es256_is_refused(verifier: TokenVerifier, jwks_server: JwksServer) -> None:
    p256 = SigningKey.generate("ES256", "ehr-es")
    assert refused(verifier, "Bearer " + token(p256, jwks_server)).code == "alg"


def test_a_narrowed_trust_file_refuses_the_other_algorithm(jwks_server: JwksServer, static_key: SigningKey,
                                                           rs_key: SigningKey, clock: Clock) -> None:
    with httpx.Client(trust_env=False) as http:
        only_es = TokenVerifier(_trust(jwks_server, static_key, algorithms=["ES384"]), http=http, clock=clock)
        assert refused(only_es, "Bearer " + token(rs_key, jwks_server)).code == "alg"


def test_key_of_the_wrong_type_for_the_alg_is_refused(verifier: TokenVerifier, es_key: SigningKey,
                                                      rs_key: SigningKey, jwks_server: JwksServer) -> None:
    # an RS384 token whose kid names the EC key of the set
    assert refused(verifier, "Bearer " + token(rs_key, jwks_server, headers={"kid": es_key.kid})).code == "key"


# ----------------------------------------------------------------------------- keys


def test_valid_signature_by_another_key_with_the_same_kid_is_refused(
        verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    impostor = SigningKey.generate("ES384", es_key.kid)
    assert refused(verifier, "Bearer " + token(impostor, jwks_server)).code == "signature"


def test_unknown_kid_refetches_once_then_is_rate_limited(verifier: TokenVerifier, jwks_server: JwksServer,
                                                         es_key: SigningKey, clock: Clock) -> None:
    verifier.verify("Bearer " + token(es_key, jwks_server), SERVICE)
    assert jwks_server.request_count == 1
    stranger = SigningKey.generate("ES384", "not-in-the-set")
    clock.now = NOW + 31  # past jwks_refetch_seconds (30 s)
    assert refused(verifier, "Bearer " + token(stranger, jwks_server, now=NOW + 31)).code == "kid"
    assert jwks_server.request_count == 2, "one refetch for an unknown kid"
    for _ in range(3):
        assert refused(verifier, "Bearer " + token(stranger, jwks_server, now=NOW + 31)).code == "kid"
    assert jwks_server.request_count == 2, "no more fetches within jwks_refetch_seconds"


def test_rotated_key_is_found_by_the_refetch(verifier: TokenVerifier, jwks_server: JwksServer,
                                             es_key: SigningKey, clock: Clock) -> None:
    verifier.verify("Bearer " + token(es_key, jwks_server), SERVICE)
    rotated = SigningKey.generate("ES384", "ehr-es-2")
    jwks_server.jwks = jwks(rotated)
    clock.now = NOW + 31
    assert verifier.verify("Bearer " + token(rotated, jwks_server, now=NOW + 31), SERVICE)["iss"] == ISS
    assert jwks_server.request_count == 2


def test_unknown_kid_among_configured_keys(verifier: TokenVerifier) -> None:
    stranger = SigningKey.generate("RS384", "who")
    assert refused(verifier, "Bearer " + token(stranger, None, iss=STATIC_ISS)).code == "kid"


def test_missing_kid_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, headers={"kid": DROP})).code == "kid"
    assert jwks_server.request_count == 0


def test_typ_other_than_jwt_is_refused(verifier: TokenVerifier, es_key: SigningKey,
                                       jwks_server: JwksServer) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, headers={"typ": DROP})).code == "typ"
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, headers={"typ": "at+jwt"})).code == "typ"


# ----------------------------------------------------------------------------- issuers and jku


def test_unknown_iss_is_refused_before_any_fetch(verifier: TokenVerifier, es_key: SigningKey,
                                                 jwks_server: JwksServer) -> None:
    error = refused(verifier, "Bearer " + token(es_key, jwks_server, iss="https://evil.example.org"))
    assert error.code == "iss"
    assert jwks_server.request_count == 0


def test_jku_not_allowed_is_refused_without_a_fetch(verifier: TokenVerifier, jwks_server: JwksServer) -> None:
    attacker_key = SigningKey.generate("ES384", "attacker")
    with JwksServer(jwks(attacker_key)) as attacker:
        error = refused(verifier, "Bearer " + token(attacker_key, attacker))
        assert error.code == "jku"
        assert attacker.request_count == 0
    assert jwks_server.request_count == 0


@pytest.mark.parametrize("path", [
    "/.well-known-evil/jwks.json",  # a prefix of the path, not a folder under it
    "/.well-known/../evil.json",
    "/.well-known/%2e%2e/evil.json",
    "/other/jwks.json",
])
def test_jku_outside_the_allowed_prefix_is_refused(verifier: TokenVerifier, es_key: SigningKey,
                                                   jwks_server: JwksServer, path: str) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, jku=jwks_server.base_url + path)).code == "jku"
    assert jwks_server.request_count == 0


def test_jku_with_user_info_or_another_port_is_refused(verifier: TokenVerifier, es_key: SigningKey,
                                                       jwks_server: JwksServer) -> None:
    for jku in (f"http://127.0.0.1:{jwks_server.port}@127.0.0.1:1{JWKS_PATH}",
                f"http://evil@127.0.0.1:{jwks_server.port}{JWKS_PATH}",
                f"http://127.0.0.1:{jwks_server.port + 1}{JWKS_PATH}",
                f"https://127.0.0.1:{jwks_server.port}{JWKS_PATH}"):
        assert refused(verifier, "Bearer " + token(es_key, jwks_server, jku=jku)).code == "jku", jku
    assert jwks_server.request_count == 0


def test_token_without_jku_for_a_jku_only_issuer_is_refused(verifier: TokenVerifier, es_key: SigningKey) -> None:
    error = refused(verifier, "Bearer " + token(es_key, None))
    assert error.code == "kid" and "no jku" in error.reason


def test_http_key_set_needs_the_loopback_setting(jwks_server: JwksServer) -> None:
    with pytest.raises(TrustError, match=r"issuers\[0\]\.jku_allow\[0\].*allow_http_loopback"):
        parse_trust({"issuers": [{"iss": ISS, "jku_allow": [jwks_server.url]}]})


# ----------------------------------------------------------------------------- key set server faults


@pytest.mark.parametrize("answer", [
    Answer(200, b'{"keys": [' + b" " * 70_000 + b"]}"),  # above jwks_max_bytes
    Answer(500, b"oops", "text/plain"),
    Answer(302, b"", headers={"Location": "http://127.0.0.1:1/jwks.json"}),  # redirects are not followed
    Answer(200, b"not json", "text/plain"),
], ids=["oversized", "error", "redirect", "not-json"])
def test_key_set_faults_refuse_the_call(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer,
                                        answer: Answer) -> None:
    jwks_server.override = answer
    assert refused(verifier, "Bearer " + token(es_key, jwks_server)).code == "jwks"
    assert jwks_server.request_count == 1


def test_key_set_down_after_expiry_fails_closed(verifier: TokenVerifier, es_key: SigningKey,
                                                jwks_server: JwksServer, clock: Clock) -> None:
    verifier.verify("Bearer " + token(es_key, jwks_server), SERVICE)
    jwks_server.override = Answer(503, b"")
    clock.now = NOW + 601  # past jwks_cache_seconds
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, now=clock.now)).code == "jwks"
    jwks_server.override = None
    clock.now = NOW + 632  # past jwks_refetch_seconds: fetched again
    verifier.verify("Bearer " + token(es_key, jwks_server, now=clock.now), SERVICE)
    assert jwks_server.request_count == 3


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_weak_keys_in_a_fetched_set_are_skipped(verifier: TokenVerifier, jwks_server: JwksServer) -> None:
    weak = SigningKey.generate("RS384", "weak", rsa_bits=1024)
    jwks_server.jwks = jwks(weak)
    assert refused(verifier, "Bearer " + token(weak, jwks_server)).code == "kid"


# ----------------------------------------------------------------------------- claims


def test_wrong_aud_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    for aud in (DISCOVERY, SERVICE + "/", "https://cds.example.org/cds-services/other", [DISCOVERY]):
        assert refused(verifier, "Bearer " + token(es_key, jwks_server, aud=aud)).code == "aud", aud
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, claims={"aud": DROP})).code == "aud"


def test_expired_token_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    error = refused(verifier, "Bearer " + token(es_key, jwks_server, now=NOW - 120, lifetime=60))
    assert error.code == "exp"


def test_token_without_exp_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, claims={"exp": DROP})).code == "exp"
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, claims={"exp": "soon"})).code == "exp"


def test_token_issued_in_the_future_is_refused(verifier: TokenVerifier, es_key: SigningKey,
                                               jwks_server: JwksServer) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, now=NOW + 60)).code == "iat"
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, claims={"iat": DROP})).code == "iat"


def test_token_living_too_long_is_refused(verifier: TokenVerifier, es_key: SigningKey,
                                          jwks_server: JwksServer) -> None:
    error = refused(verifier, "Bearer " + token(es_key, jwks_server, lifetime=3600))
    assert error.code == "lifetime" and "300" in error.reason


def test_nbf_in_the_future_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, claims={"nbf": NOW + 30})).code == "nbf"


def test_replayed_jti_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    once = "Bearer " + token(es_key, jwks_server, jti="only-once")
    verifier.verify(once, SERVICE)
    error = refused(verifier, once)
    assert error.code == "replay"
    # the same jti in a new token is a replay too
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, jti="only-once", lifetime=30)).code == "replay"


def test_missing_jti_is_refused(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    assert refused(verifier, "Bearer " + token(es_key, jwks_server, claims={"jti": DROP})).code == "jti"


def test_a_refused_token_does_not_burn_its_jti(verifier: TokenVerifier, es_key: SigningKey,
                                               jwks_server: JwksServer) -> None:
    refused(verifier, "Bearer " + token(es_key, jwks_server, jti="j", aud=DISCOVERY))
    verifier.verify("Bearer " + token(es_key, jwks_server, jti="j"), SERVICE)


def test_concurrent_replay_lets_exactly_one_through(verifier: TokenVerifier, es_key: SigningKey,
                                                    jwks_server: JwksServer) -> None:
    header = "Bearer " + token(es_key, jwks_server)
    verifier.verify("Bearer " + token(es_key, jwks_server), SERVICE)  # the key set is fetched
    results: list[str] = []
    start = threading.Barrier(8)

    def attempt() -> None:
        start.wait()
        try:
            verifier.verify(header, SERVICE)
            results.append("ok")
        except AuthError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok"] + ["replay"] * 7


def test_full_replay_cache_refuses_rather_than_forgets(jwks_server: JwksServer, static_key: SigningKey,
                                                       es_key: SigningKey, clock: Clock) -> None:
    with httpx.Client(trust_env=False) as http:
        small = TokenVerifier(_trust(jwks_server, static_key, replay_cache_size=2), http=http, clock=clock)
        for _ in range(2):
            small.verify("Bearer " + token(es_key, jwks_server), SERVICE)
        assert refused(small, "Bearer " + token(es_key, jwks_server)).code == "replay"
        clock.now = NOW + 70  # the first two expired (60 s + 5 s leeway): room again
        small.verify("Bearer " + token(es_key, jwks_server, now=clock.now), SERVICE)
        assert len(small.replay) == 1


# ----------------------------------------------------------------------------- the header and the token


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_missing_header_is_refused(verifier: TokenVerifier, authorization: str | None) -> None:
    assert refused(verifier, authorization).code == "header"


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Token abc.def.ghi", "abc"])
def test_malformed_header_is_refused(verifier: TokenVerifier, authorization: str) -> None:
    assert refused(verifier, authorization).code == "header"


@pytest.mark.parametrize("value", ["not-a-jwt", "a.b", "a.b.c.d", "abc.def.ghi", "e30.e30.!!", "a b.c",
                                   "W10.e30.", "eyJhbGciOiJFUzM4NCIsImFsZyI6Im5vbmUifQ.e30.sig"],
                         ids=["one-part", "two-parts", "four-parts", "not-json", "bad-chars", "space",
                              "header-a-list", "duplicate-member"])
def test_garbage_token_is_refused(verifier: TokenVerifier, jwks_server: JwksServer, value: str) -> None:
    assert refused(verifier, "Bearer " + value).code == "token"
    assert jwks_server.request_count == 0


def test_oversized_token_is_refused_before_parsing(verifier: TokenVerifier, es_key: SigningKey,
                                                   jwks_server: JwksServer) -> None:
    big = token(es_key, jwks_server, claims={"padding": "x" * 10_000})
    error = refused(verifier, "Bearer " + big)
    assert error.code == "token" and "8192" in error.reason
    assert jwks_server.request_count == 0


def test_bearer_scheme_is_case_insensitive(verifier: TokenVerifier, es_key: SigningKey,
                                           jwks_server: JwksServer) -> None:
    verifier.verify("bearer  " + token(es_key, jwks_server), SERVICE)


def test_reasons_never_quote_the_token(verifier: TokenVerifier, es_key: SigningKey, jwks_server: JwksServer) -> None:
    bad = token(es_key, jwks_server, aud=DISCOVERY)
    error = refused(verifier, "Bearer " + bad)
    assert bad not in str(error) and bad.split(".")[2] not in error.reason


# ----------------------------------------------------------------------------- the trust file


def test_trust_yaml_with_the_spec_example_key_and_a_keys_file() -> None:
    trust = load_trust(FIXTURES / "trust.yaml")
    assert [i.iss for i in trust.issuers] == ["https://fhir-ehr.example.com/", "https://other-ehr.example.org"]
    assert trust.algorithms == ("ES384",) and trust.max_lifetime_seconds == 120
    assert trust.issuers[1].keys_file == FIXTURES / "other-ehr-jwks.json"
    verifier = TokenVerifier(trust)
    verifier.close()


def test_trust_json() -> None:
    assert load_trust(FIXTURES / "trust.json").jwks_cache_seconds == 300


def test_bad_trust_file_names_every_field() -> None:
    with pytest.raises(TrustError) as caught:
        load_trust(FIXTURES / "bad-trust.yaml")
    problems = caught.value.problems
    assert any(p.startswith("issuers[1]: give jku_allow") for p in problems)
    assert any(p.startswith("issuers[2].keys: keys[0]: key 'k1' holds private key material") for p in problems)
    assert "algorithms[1]: Input should be 'ES384' or 'RS384'" in problems
    assert any(p.startswith("leeway_seconds:") for p in problems)
    assert any(p.startswith("jwks_cache: unknown field (allowed here: issuers, algorithms") for p in problems)


def test_http_jku_to_another_host_is_a_trust_error() -> None:
    with pytest.raises(TrustError, match=r"issuers\[0\]\.jku_allow\[0\]: .*https is required"):
        load_trust(FIXTURES / "bad-jku.yaml")


@pytest.mark.parametrize(("data", "expected"), [
    ({"issuers": []}, "issuers: List should have at least 1 item"),
    ({"issuers": [{"iss": ISS, "keys_file": "missing.json"}]}, "issuers[0].keys_file: cannot read"),
    ({"issuers": [{"iss": ISS, "keys": {"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}}]},
     "private key material (k)"),
    ({"issuers": [{"iss": ISS, "keys": {"keys": []}}]}, "the key set holds no key"),
    ({"issuers": [{"iss": ISS, "jku_allow": ["https://a.org/"]}, {"iss": ISS, "jku_allow": ["https://a.org/"]}]},
     "listed twice"),
    ({"issuers": [{"iss": ISS, "jku_allow": ["https://a.org/"]}], "algorithms": []}, "name at least one"),
    ([], "must be a mapping"),
], ids=["no-issuer", "missing-keys-file", "symmetric-key", "empty-key-set", "duplicate-iss", "no-algorithm",
        "not-a-mapping"])
def test_trust_settings_errors(data: Any, expected: str, tmp_path: Path) -> None:
    with pytest.raises(TrustError) as caught:
        parse_trust(data, base_dir=tmp_path)
    assert expected in str(caught.value)


def test_unreadable_and_unparsable_trust_files(tmp_path: Path) -> None:
    with pytest.raises(TrustError, match="cannot read the file"):
        load_trust(tmp_path / "absent.yaml")
    (tmp_path / "t.json").write_text("{issuers: ", encoding="utf-8")
    with pytest.raises(TrustError, match="not JSON"):
        load_trust(tmp_path / "t.json")
