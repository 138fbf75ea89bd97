"""Interoperability adapters at the pathways edge: HL7 v2 (IHE PAM France) over MLLP.

``hl7/`` holds pure functions (parse, map to facts, build acknowledgements); the
listener and the database adapter sit beside it and only they do IO.
"""
