"""The demo's provider accounts of simulated professionals carry PSC's SubjectNameID
("8" + RPPS) of professionals the simulator lists in the directory."""

from __future__ import annotations

import random

from simulator.professionals import psc_accounts
from simulator.territory import make_territory


def test_accounts_name_listed_professionals_by_subject_name_id() -> None:
    territory = make_territory("demo", 20_000, random.Random(1))
    accounts = psc_accounts(territory)
    by_rpps = {p.rpps: p for p in territory.professionals}
    assert len(accounts) == 2 * len({p.role for p in territory.professionals})
    for login, claims in accounts.items():
        sid = claims["SubjectNameID"]
        assert sid.startswith("8") and len(sid) == 12
        assert by_rpps[sid[1:]].role == login.rsplit("-", 1)[0]
