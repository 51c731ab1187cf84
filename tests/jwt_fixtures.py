"""Keys, clients files and tokens for the trust tests (PyJWT and cryptography; no cryptography by hand
except the one forged HMAC token, which no library will make on purpose)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PUBLIC_URL = "https://cds.example.org/relapse"
ISS_A = "https://ehr-a.example.org/cds-client"  # ES384, jwks_file, tenant
ISS_B = "https://ehr-b.example.org"  # RS384, inline jwks
ISS_C = "https://ehr-c.example.org"  # ES384, jwks_url
TENANT_A = "children-hospital"


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(key, kid: str) -> dict:
    algorithm = jwt.algorithms.ECAlgorithm if isinstance(key, ec.EllipticCurvePrivateKey) else jwt.algorithms.RSAAlgorithm
    return {**algorithm.to_jwk(key.public_key(), as_dict=True), "kid": kid, "use": "sig"}


class JwksServer:
    """Serves a JWK Set on loopback; `keys` may be swapped (rotation); `hits` counts fetches."""

    def __init__(self, keys: list[dict]):
        self.keys, self.hits = keys, 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):  # noqa: N802
                owner.hits += 1
                body = json.dumps({"keys": owner.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Keys:
    a: ec.EllipticCurvePrivateKey = field(default_factory=ec_key)
    a_impostor: ec.EllipticCurvePrivateKey = field(default_factory=ec_key)  # same kid, not configured
    b: rsa.RSAPrivateKey = field(default_factory=rsa_key)
    c: ec.EllipticCurvePrivateKey = field(default_factory=ec_key)


def write_clients(directory: Path, keys: Keys, jwks_url: str, fhir_servers_a: tuple[str, ...] = ("https://ehr-a.example.org/fhir/",)) -> Path:
    (directory / "ehr-a-jwks.json").write_text(json.dumps({"keys": [public_jwk(keys.a, "a-1")]}))
    clients = {"clients": [
        {"iss": ISS_A, "jwks_file": "ehr-a-jwks.json", "tenant": TENANT_A, "fhir_servers": list(fhir_servers_a)},
        {"iss": ISS_B, "jwks": {"keys": [public_jwk(keys.b, "b-1")]}},
        {"iss": ISS_C, "jwks_url": jwks_url},
    ]}
    path = directory / "clients.yaml"
    path.write_text(yaml.safe_dump(clients))
    return path


def claims(iss: str, path: str, **changes) -> dict:
    now = int(time.time())
    payload = {"iss": iss, "aud": PUBLIC_URL + path, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    if iss == ISS_A:
        payload["tenant"] = TENANT_A
    for name, value in changes.items():
        if value is ...:
            payload.pop(name, None)
        else:
            payload[name] = value
    return payload


def sign(key, kid: str, payload: dict, alg: str | None = None, **header) -> str:
    alg = alg or ("ES384" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS384")
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid, "typ": "JWT", **header})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256_with_public_key(key, kid: str, payload: dict) -> str:
    """The classic confusion attack: HMAC keyed with the client's public key (PEM)."""
    secret = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = f"{_b64(json.dumps({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'}).encode())}.{_b64(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


def tampered(token: str, **changes) -> str:
    header, payload, signature = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    return f"{header}.{_b64(json.dumps(data).encode())}.{signature}"
