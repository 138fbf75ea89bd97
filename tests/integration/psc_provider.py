"""A real OpenID provider for the tests: ``oidc-provider`` (npm, certified) configured
like Pro Santé Connect by ``tools/node/psc-provider.mjs``, on a free port.

The fixture generates the provider's signing keys, so that a test can also sign
tokens with them (expired ones, for another audience…) and with keys the provider
does not publish; ``restart`` rotates the keys. ``sign_in`` drives the provider's
login page over HTTP (authorization code + PKCE) and returns a genuine ID token.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from parcours.devstack import free_port
from tests.required_tools import require_tool

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "node" / "psc-provider.mjs"
MODULE = ROOT / "tools" / "node" / "node_modules" / "oidc-provider" / "package.json"
NODE = shutil.which("node")
CLIENT_ID = "parcours-test"
CLIENT_SECRET = "parcours-test-client-secret-0123456789"


def rsa_key(kid: str) -> tuple[Any, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update(kid=kid, use="sig", alg="RS256")
    return key, jwk


def ec_key(kid: str) -> tuple[Any, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key))
    jwk.update(kid=kid, use="sig", alg="ES256")
    return key, jwk


class PscProvider:
    def __init__(self, accounts: dict[str, dict[str, Any]], redirect_uris: list[str]) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.accounts = accounts
        self.redirect_uris = list(redirect_uris)
        self.keys: dict[str, Any] = {}  # kid -> private key
        self._jwks: list[dict[str, Any]] = []
        self._dir = Path(tempfile.mkdtemp(prefix="parcours-psc-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self.wallet_discovery = True

    def add_key(self, kid: str, kind: str = "rsa", *, first: bool = True) -> None:
        key, jwk = (rsa_key if kind == "rsa" else ec_key)(kid)
        self.keys[kid] = key
        self._jwks = [jwk, *self._jwks] if first else [*self._jwks, jwk]

    def start(self) -> None:
        config = {
            "port": self.port,
            "issuer": self.issuer,
            "jwks": {"keys": self._jwks},
            "clients": [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": self.redirect_uris,
                    "id_token_signed_response_alg": self._jwks[0]["alg"],
                }
            ],
            "accounts": self.accounts,
            "wallet_discovery": self.wallet_discovery,
        }
        path = self._dir / "config.json"
        path.write_text(json.dumps(config))
        self._proc = subprocess.Popen(
            [NODE or "node", str(SCRIPT), str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().decode()
        assert line.startswith("ready"), f"the OpenID provider did not start: {line!r}"

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(10)
            self._proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, key: Any = None) -> str:
        """A token signed like the provider's (its key unless ``key``), PSC claims by default."""
        kid = kid or next(iter(self.keys))
        now = int(time.time())
        payload = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "f:psc:account",
            "iat": now,
            "exp": now + 600,
            "acr": "eidas1",
            **claims,
        }
        private = key if key is not None else self.keys[kid]
        alg = "ES256" if isinstance(private, ec.EllipticCurvePrivateKey) else "RS256"
        return jwt.encode(payload, private, algorithm=alg, headers={"kid": kid})

    def sign_in(self, login: str, redirect_uri: str) -> str:
        """A genuine ID token: the code flow with PKCE, the login page filled in over HTTP."""
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        query = {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "scope": "openid scope_all",
            "nonce": "n-" + secrets.token_hex(4),
            "state": "s-" + secrets.token_hex(4),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": "eidas1",
        }
        with httpx.Client(base_url=self.issuer, follow_redirects=False) as http:
            answer = http.get(f"/auth?{urlencode(query)}")
            for _ in range(10):
                location = answer.headers.get("location", "")
                if location.startswith(redirect_uri):
                    break
                if answer.status_code == 200 and "/interaction/" in answer.url.path:
                    answer = http.post(f"{answer.url.path}/login", data={"login": login})
                else:
                    assert location, f"the provider answered {answer.status_code}"
                    answer = http.get(location)
            code = parse_qs(urlparse(answer.headers["location"]).query)["code"][0]
            tokens = http.post(
                "/token",
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                },
                auth=(CLIENT_ID, CLIENT_SECRET),
            )
            tokens.raise_for_status()
            return tokens.json()["id_token"]


def node_tools_present() -> bool:
    return NODE is not None and MODULE.exists()


@contextlib.contextmanager
def psc_provider(
    accounts: dict[str, dict[str, Any]], redirect_uris: list[str]
) -> Iterator[PscProvider]:
    require_tool(node_tools_present(), "node and oidc-provider (make node-tools)")
    provider = PscProvider(accounts, redirect_uris)
    provider.add_key("psc-rsa-1")
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()
        shutil.rmtree(provider._dir, ignore_errors=True)


@pytest.fixture
def skip_without_node() -> None:
    require_tool(node_tools_present(), "node and oidc-provider (make node-tools)")
