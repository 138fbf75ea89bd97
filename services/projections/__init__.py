"""The projections service: read models (timelines, worklists, indicators) and the query API.

Design in brief (details in each module's docstring):

- Views (``views/``): ``timeline``, ``care`` (enrolments, tasks, escalations) and
  ``indicators`` (per-patient evidence and case outcomes). Pure row evolution and
  judging live in ``domain/``; the views write batches with ``unnest``/COPY.
- One durable NATS consumer feeds all views (``runner``); each view keeps its own
  checkpoint as an event-store position ``(txid, position)``, written in the same
  transaction as its rows, so a rebuilt view and the live consumer share one notion
  of "where it is" (``rebuild``: shadow tables, atomic rename, continue from there).
- Time travel: enrolments, tasks and case outcomes are versioned rows valid for
  recorded instants ``[valid_from, valid_to)``; ``valid_from`` is the latest
  ``recorded_at`` of the transaction that produced the version (its events became
  visible together), never earlier than the previous version's. An ``as_of`` query
  reads the versions valid at that instant; the live one reads ``valid_to IS NULL``.
  Timeline rows are immutable and filtered by ``recorded_at``. The answer for an
  instant is final once every transaction that started before it has committed.
- Indicators are computed generically from the protocol files' ``[[indicators]]``
  (``contracts.indicators``); cases belong to the period of their anchor's local
  (Europe/Paris) date; auditors see HMAC pseudonyms and days from the anchor. Live
  summaries read ``proj_indicator_totals`` (live cases summed per anchor day, kept in
  the same transaction as the cases); as-of summaries read the versioned cases.
- HTTP handlers live in ``api/`` (one module per resource); ``app`` wires them.
"""
