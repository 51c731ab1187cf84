"""FHIR resources -> relapse features (what the rules reason about), through `mappings/`."""
