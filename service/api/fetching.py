"""Glue between a hook request and service/fhir/fetch.py: whose FHIR servers, which token, which deadline."""

from __future__ import annotations

from collections.abc import Mapping

from flask import current_app, g

from ..definition import ServiceDefinition
from ..fhir.fetch import Completed, FetchPolicy, PatientUnreadable, complete_prefetch
from .errors import ApiError


def prefetch_with_fetched(hook_request: Mapping, patient_id: str, service: ServiceDefinition) -> Completed:
    """The request's prefetch completed from its fhirServer. A verified client may name only its own
    `fhir_servers`; open mode only RELAPSE_CDS_FHIR_ALLOW. An unreadable Patient is a 412."""
    settings = current_app.extensions["relapse_cds.settings"]
    caller = g.get("cds_client")
    allowed = caller.client.fhir_servers if caller is not None else settings.fhir_allow
    authorization = hook_request.get("fhirAuthorization") or {}
    policy = FetchPolicy(settings.fetch_deadline_s, str(settings.fhir_ca_bundle) if settings.fhir_ca_bundle else True,
                         max_depth=settings.max_json_depth)
    try:
        return complete_prefetch(
            hook_request.get("prefetch"), service, patient_id, hook_request.get("fhirServer"),
            authorization.get("access_token"), allowed, policy,
        )
    except PatientUnreadable as exc:
        raise ApiError(412, exc.code, f"the Patient could not be read from the FHIR server: {exc.message}") from None
