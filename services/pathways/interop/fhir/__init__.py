"""FHIR R4 intake (fr-core subset): a transaction or batch Bundle to the same facts as the JSON API."""
