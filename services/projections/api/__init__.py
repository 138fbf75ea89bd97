"""The query API of the projections service: HTTP handlers only, one module per resource.

- ``timeline``: a patient's timeline (professionals, coordinators).
- ``cases``: a case's pseudonymised timeline (auditors).
- ``indicators``: indicator definitions, values and the cases behind them.
- ``exports``: CSV/JSON exports, FHIR MeasureReport, the CPTS mission report.
- ``worklists``: the professional's, the pool's and the coordinator's worklists, enrolments.
- ``dashboard``: the auditors' page.
- ``common``: what they share (period and as_of parsing, the reference day).

The handlers read the read models (``projections.queries``, the views' tables); the
composition root (``projections.app``) lists them.
"""
