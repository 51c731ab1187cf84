"""Clinical rules: pure functions of a features object. No Flask, no FHIR, no I/O."""
