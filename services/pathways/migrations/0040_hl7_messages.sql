-- HL7 v2 messages received over MLLP (pathways/interop), each with its outcome.
--
-- Identity-bearing like patient_identities: `content` (the message as received:
-- names, birth date, INS, IPP) and `ipp` live only here, never in an event or a
-- log line. Retention: `content` is cleared `PARCOURS_MLLP_RETENTION_DAYS` (30)
-- days after a message was accepted or rejected (`parcours hl7 purge`); the
-- row (sender, control id, outcome, ACK) stays for duplicate detection and
-- audit. Quarantined and held messages keep their content until they are
-- replayed. Erasing a patient's identity (DELETE /v1/patients/identity) also
-- clears the content and IPP of their messages and deletes their IPP links.
CREATE TABLE hl7_messages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cpts                text        NOT NULL,
    sending_application text        NOT NULL,
    sending_facility    text        NOT NULL,
    control_id          text,       -- MSH-10; NULL when the message could not be parsed
    trigger             text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    content             text,
    -- received (being processed) | accepted | held (known by IPP only, waiting for
    -- a qualified identity) | quarantined (AE: cannot be mapped) | rejected (AR)
    outcome             text        NOT NULL DEFAULT 'received',
    reason              text,       -- never an identifier value
    ack_code            text,
    ack                 text,
    facts               integer     NOT NULL DEFAULT 0,
    stream              text,
    ipp_authority       text,
    ipp                 text,
    decided_at          timestamptz,
    UNIQUE (cpts, sending_application, sending_facility, control_id)
);
CREATE INDEX hl7_messages_open ON hl7_messages (cpts, outcome, id)
    WHERE outcome IN ('quarantined', 'held', 'received');
CREATE INDEX hl7_messages_ipp ON hl7_messages (cpts, ipp_authority, ipp) WHERE ipp IS NOT NULL;

-- A hospital's IPP (under its assigning authority) and the qualified INS it was
-- last seen with: a message that drops a provisional INS still finds the patient.
CREATE TABLE hl7_patient_links (
    cpts          text NOT NULL,
    ipp_authority text NOT NULL,
    ipp           text NOT NULL,
    ins           text NOT NULL,
    ins_oid       text NOT NULL,
    linked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cpts, ipp_authority, ipp)
);
