"""HL7 v2.5 ADT following IHE PAM France, as pure functions: no IO, time zone a parameter."""
