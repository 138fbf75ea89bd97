"""The projections service: read models (timelines, worklists, indicators) and the query API."""
