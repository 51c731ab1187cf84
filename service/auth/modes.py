"""Open mode (no RELAPSE_CDS_CLIENTS): fine on a developer's loopback, refused elsewhere unless asked for."""

from __future__ import annotations

import ipaddress

OPEN_MODE_WARNING = (
    "!!! relapse-cds is running in OPEN MODE: RELAPSE_CDS_CLIENTS is not set, so ANY caller is answered\n"
    "!!! without a token, and FHIR data is fetched only from RELAPSE_CDS_FHIR_ALLOW. For development only;\n"
    "!!! never connect an EHR with patient data to it. /health reports \"mode\": \"open\"."
)


def is_loopback(host: str) -> bool:
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def open_mode_refusal(host: str, insecure_open: bool) -> str | None:
    """Why open mode may not start on this address, or None."""
    if is_loopback(host) or insecure_open:
        return None
    return (f"binding {host} without RELAPSE_CDS_CLIENTS would let anyone on the network call the service; "
            "configure trusted clients (see the README, 'Connecting an EHR') or pass --insecure-open")


def bind_host(bind: str) -> str | None:
    """The host of a gunicorn bind ('host:port', '[::1]:port'); None for a unix socket (local)."""
    if bind.startswith(("unix:", "fd://")):
        return None
    host, _, _ = bind.rpartition(":")
    return host or bind


def open_mode_warning() -> str:
    return OPEN_MODE_WARNING
