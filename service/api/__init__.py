"""HTTP layer: CDS Hooks discovery and invocation, request validation, error bodies."""
