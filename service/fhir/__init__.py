"""FHIR R4 input: pick the resources the rules need from raw JSON, then validate those with fhir.resources."""
