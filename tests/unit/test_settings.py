"""Settings are grouped by concern and still read from the same environment variables."""

from __future__ import annotations

import pytest

from parcours.settings import DEV_JWT_SECRET, Settings, SettingsError

ENV = {
    "PARCOURS_DATABASE_URL": "postgresql://db/parcours",
    "PARCOURS_DB_POOL_SIZE": "7",
    "PARCOURS_NATS_URL": "nats://bus:4222",
    "PARCOURS_NATS_PREFIX": "t1",
    "PARCOURS_PSEUDONYM_SECRET": "pepper",
    "PARCOURS_PATHWAYS_PORT": "9000",
    "PARCOURS_MAX_IN_FLIGHT": "9",
    "PARCOURS_BATCH_MAX_BYTES": "1000",
    "PARCOURS_NOTIFICATION_DEFAULT_ZONE": "75014",
    "PARCOURS_DIGEST_HOUR": "-1",
    "PARCOURS_CLOCK": "virtual",
}


def test_each_variable_lands_in_its_group() -> None:
    s = Settings.from_env(ENV)
    assert (s.database.url, s.database.pool_size) == ("postgresql://db/parcours", 7)
    assert (s.nats.url, s.nats.prefix) == ("nats://bus:4222", "t1")
    assert (s.auth.pseudonym_secret, s.auth.jwt_secret) == ("pepper", DEV_JWT_SECRET)
    assert (s.http.pathways_port, s.http.max_in_flight) == (9000, 9)
    assert s.batch.max_bytes == 1000
    assert (s.notifications.default_zone, s.notifications.digest_hour) == ("75014", -1)
    assert s.clock == "virtual" and s.environment == "development"


def test_a_child_process_gets_the_same_settings_from_the_variables_it_is_given() -> None:
    s = Settings.from_env(ENV)
    assert Settings.from_env(s.env()) == s
    assert s.env()["PARCOURS_DATABASE_URL"] == "postgresql://db/parcours"


def test_replace_takes_the_flat_names_of_the_variables() -> None:
    s = Settings.from_env(ENV).replace(digest_hour=7, nats_url="nats://other:4222")
    assert (s.notifications.digest_hour, s.nats.url, s.nats.prefix) == (
        7,
        "nats://other:4222",
        "t1",
    )
    with pytest.raises(TypeError):
        s.replace(no_such_setting=1)


def test_missing_or_invalid_variables_are_refused_with_their_names() -> None:
    with pytest.raises(SettingsError, match="PARCOURS_NATS_URL"):
        Settings.from_env({"PARCOURS_DATABASE_URL": "postgresql://db/x"})
    with pytest.raises(SettingsError, match="invalid setting"):
        Settings.from_env({**ENV, "PARCOURS_DB_POOL_SIZE": "many"})
