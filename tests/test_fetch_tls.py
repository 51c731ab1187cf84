"""TLS to the FHIR server: verification is on, a private CA is trusted only through
RELAPSE_CDS_FHIR_CA_BUNDLE. A real HTTPS server on loopback with a certificate from a throwaway CA."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import FIXTURES, SERVICE_URL, CheckedClient
from service import create_app
from service.config import Settings
from test_fetch import as_stored, fetching


def _certificate(subject: str, key, issuer_name, issuer_key, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def https_fhir(tmp_path_factory):
    """An HTTPS FHIR endpoint answering one fixture patient's reads and searches from memory."""
    directory = tmp_path_factory.mktemp("tls")
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relapse-cds test CA")])
    ca = _certificate("relapse-cds test CA", ca_key, ca_name, ca_key, ca=True)
    cert = _certificate("127.0.0.1", server_key, ca_name, ca_key, ca=False)
    (directory / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    full = as_stored(FIXTURES / "b-isolated-cns-12m.json")
    prefetch = full["prefetch"]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # noqa: N802
            rtype = self.path.removeprefix("/fhir/").split("?")[0].split("/")[0]
            if rtype == "Patient":
                body = prefetch["patient"]
            else:
                key = {"Condition": "conditions", "Observation": "observations", "Procedure": "procedures", "Specimen": "specimens"}[rtype]
                body = prefetch[key] or {"resourceType": "Bundle", "type": "searchset", "entry": []}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}/fhir", directory / "ca.pem", full
    server.shutdown()
    server.server_close()


def test_a_private_ca_is_trusted_only_through_the_ca_bundle(https_fhir):
    base, ca_bundle, full = https_fhir
    body = fetching(full, base)
    expected = CheckedClient(create_app(Settings()).test_client()).post(SERVICE_URL, json=full).get_json()

    untrusted = CheckedClient(create_app(Settings(fhir_allow=(base,))).test_client()).post(SERVICE_URL, json=body)
    assert untrusted.status_code == 412  # the certificate does not verify: nothing is read from it
    assert "TLS certificate could not be verified" in untrusted.get_json()["issue"][0]["diagnostics"]

    trusted = CheckedClient(create_app(Settings(fhir_allow=(base,), fhir_ca_bundle=ca_bundle)).test_client())
    answer = trusted.post(SERVICE_URL, json=body).get_json()["extension"]["org.relapse-cds.assessment"]
    expected = expected["extension"]["org.relapse-cds.assessment"]
    assert {k: answer[k] for k in ("relapseNumber", "cogRisk", "hsct", "flags", "missing")} == \
        {k: expected[k] for k in ("relapseNumber", "cogRisk", "hsct", "flags", "missing")}


def test_plain_http_is_not_a_substitute_for_an_https_listing(https_fhir):
    """Only the exact listed base is allowed: http:// of an https:// listing gets no request."""
    base, ca_bundle, full = https_fhir
    client = CheckedClient(create_app(Settings(fhir_allow=(base,), fhir_ca_bundle=ca_bundle)).test_client())
    answer = client.post(SERVICE_URL, json=fetching(full, base.replace("https://", "http://"), drop=("observations",))).get_json()
    assert any("not a FHIR server this service may query" in p for p in answer["extension"]["org.relapse-cds.assessment"]["problems"])
