"""The language every Parcours service speaks.

Events, commands, identifiers and NATS subject names live here and nowhere else.
This package imports only the standard library and msgspec.
"""
