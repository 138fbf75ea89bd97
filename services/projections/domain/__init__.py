"""The pure core of the projections: row evolution, case outcomes, periods, pseudonyms.

No asyncpg, no clock, no IO: functions of events and definitions only.
"""
