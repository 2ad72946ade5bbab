-- izport schema, SQLite flavour. Keep in step with migrations/postgres/0001_init.sql:
-- the two differ only in identity columns.
-- Timestamps are RFC 3339 UTC text written by the application (sortable, identical on both backends);
-- calendar dates are YYYY-MM-DD text.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

CREATE TABLE facilities (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    facility_code    TEXT NOT NULL,
    UNIQUE (organization_id, facility_code)
);

CREATE TABLE users (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    username         TEXT NOT NULL UNIQUE,
    password_hash    TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'active',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);

CREATE TABLE patients (
    id                   INTEGER PRIMARY KEY,
    family_name          TEXT NOT NULL,
    given_name           TEXT NOT NULL,
    middle_name          TEXT,
    birth_date           TEXT NOT NULL,
    sex                  TEXT,
    mother_maiden_name   TEXT,
    created_by_org       BIGINT NOT NULL REFERENCES organizations(id),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);

-- Identifiers as reported (PID-3). An identifier is unique per reporting organization, assigning
-- authority and type, which is how a submitter's own record number finds the patient again.
CREATE TABLE patient_identifiers (
    id                   INTEGER PRIMARY KEY,
    patient_id           BIGINT NOT NULL REFERENCES patients(id),
    organization_id      BIGINT NOT NULL REFERENCES organizations(id),
    id_value             TEXT NOT NULL,
    assigning_authority  TEXT NOT NULL,
    id_type              TEXT NOT NULL,
    UNIQUE (organization_id, assigning_authority, id_type, id_value)
);
CREATE INDEX patient_identifiers_patient ON patient_identifiers (patient_id);

CREATE TABLE message_log (
    id               INTEGER PRIMARY KEY,
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    user_id          BIGINT NOT NULL REFERENCES users(id),
    facility_code    TEXT NOT NULL,
    control_id       TEXT,
    message_type     TEXT,
    processing_id    TEXT,
    outcome          TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    responded_at     TEXT NOT NULL,
    request          TEXT NOT NULL,
    response         TEXT NOT NULL
);
CREATE INDEX message_log_org_control ON message_log (organization_id, control_id);

CREATE TABLE immunizations (
    id                 INTEGER PRIMARY KEY,
    patient_id         BIGINT NOT NULL REFERENCES patients(id),
    organization_id    BIGINT NOT NULL REFERENCES organizations(id),
    message_id         BIGINT NOT NULL REFERENCES message_log(id),
    filler_order_id    TEXT NOT NULL,
    administered_on    TEXT NOT NULL,
    cvx                TEXT NOT NULL,
    vaccine_text       TEXT,
    amount             TEXT,
    amount_units       TEXT,
    info_source        TEXT,
    lot_number         TEXT,
    lot_expiration     TEXT,
    mvx                TEXT,
    completion_status  TEXT,
    action_code        TEXT,
    route              TEXT,
    site               TEXT,
    deleted_at         TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (organization_id, filler_order_id)
);
CREATE INDEX immunizations_patient ON immunizations (patient_id);
