"""Parcours' shared runtime and command line.

The three services (pathways, notifications, projections) each need settings,
logging, a PostgreSQL pool, a NATS connection, token checking and problem
details; that plumbing lives here, once, so they never import each other.
Nothing here connects at import time.
"""
