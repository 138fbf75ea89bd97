-- Browser sessions of the sign-in (parcours.web_session): the cookie holds a random
-- id, the table its SHA-256 only, so that a read of this table opens no session.
-- `token` is the provider's ID token (or a development token), forwarded as the
-- bearer when the coordinator page acts on the other services; a session never
-- outlives it (`expires_at`).
CREATE TABLE web_sessions (
    id_hash     bytea       PRIMARY KEY,
    sub         text        NOT NULL,
    role        text        NOT NULL,
    cpts        text        NOT NULL,
    specialty   text,
    zones       text[]      NOT NULL DEFAULT '{}',
    token       text        NOT NULL,
    csrf        text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- Sign-ins under way (authorization code + PKCE): the state the provider sends back,
-- with the PKCE verifier, the nonce, where to go after and the CPTS chosen (an RPPS
-- listed in several); kept ten minutes.
CREATE TABLE web_sign_ins (
    state         text        PRIMARY KEY,
    code_verifier text        NOT NULL,
    nonce         text        NOT NULL,
    next_path     text        NOT NULL,
    cpts          text,
    expires_at    timestamptz NOT NULL
);
