"""Why a FHIR Bundle is refused."""

from __future__ import annotations


class FhirProblem(Exception):
    """Why a Bundle is refused: an OperationOutcome issue (code, FHIRPath, sentence)."""

    def __init__(self, expression: str, diagnostics: str, code: str = "invalid", status: int = 422):
        super().__init__(diagnostics)
        self.expression, self.diagnostics, self.code, self.status = (
            expression,
            diagnostics,
            code,
            status,
        )
