-- Registry semantics: identity and matching, consolidated doses, other kinds of immunization
-- records, consent, safe resend, test vs production, timeliness. Keep in step with
-- migrations/postgres/0003_registry.sql (the two differ only in identity columns).

-- Organizations start in onboarding; existing ones keep working as production.
ALTER TABLE organizations ADD COLUMN status TEXT NOT NULL DEFAULT 'production';

-- Demographics used for matching and answering queries. *_norm columns hold names normalized
-- for matching (upper-case letters only, "BABY"/"BOY"/"TWIN A" noise removed).
ALTER TABLE patients ADD COLUMN family_norm TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN given_norm TEXT NOT NULL DEFAULT '';
ALTER TABLE patients ADD COLUMN phone TEXT;
ALTER TABLE patients ADD COLUMN street TEXT;
ALTER TABLE patients ADD COLUMN city TEXT;
ALTER TABLE patients ADD COLUMN state TEXT;
ALTER TABLE patients ADD COLUMN zip TEXT;
ALTER TABLE patients ADD COLUMN race TEXT;
ALTER TABLE patients ADD COLUMN ethnicity TEXT;
ALTER TABLE patients ADD COLUMN multiple_birth TEXT;
ALTER TABLE patients ADD COLUMN birth_order BIGINT;
ALTER TABLE patients ADD COLUMN death_date TEXT;
ALTER TABLE patients ADD COLUMN publicity TEXT;
ALTER TABLE patients ADD COLUMN protection TEXT;
ALTER TABLE patients ADD COLUMN registry_status TEXT;
-- Consent: none | consented | withdrawn | protected; and the date it took effect.
ALTER TABLE patients ADD COLUMN consent_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE patients ADD COLUMN consent_date TEXT;
-- A merged record points at the record it was merged into; reads follow the pointer, so a
-- merge is undone by clearing it.
ALTER TABLE patients ADD COLUMN merged_into BIGINT;
CREATE INDEX patients_birth_date ON patients (birth_date);
CREATE INDEX patients_names ON patients (family_norm, given_norm);
CREATE INDEX patient_identifiers_lookup ON patient_identifiers (id_value, assigning_authority);

-- Each report of a dose (organization, ORC-3) stays; doses of the same vaccine group on the same
-- date for the same patient are one event, consolidated when read.
ALTER TABLE immunizations ADD COLUMN vaccine_group TEXT NOT NULL DEFAULT '';
ALTER TABLE immunizations ADD COLUMN first_received_at TEXT;
UPDATE immunizations SET first_received_at = created_at;
CREATE INDEX immunizations_event ON immunizations (patient_id, vaccine_group, administered_on);

CREATE TABLE dose_changes (
    id               INTEGER PRIMARY KEY,
    immunization_id  BIGINT NOT NULL REFERENCES immunizations(id),
    message_id       BIGINT NOT NULL REFERENCES message_log(id),
    action           TEXT NOT NULL,
    changed_at       TEXT NOT NULL
);
CREATE INDEX dose_changes_dose ON dose_changes (immunization_id);

-- Refusals, "no vaccine administered" and evidence of immunity: not doses.
CREATE TABLE patient_observations (
    id               INTEGER PRIMARY KEY,
    patient_id       BIGINT NOT NULL REFERENCES patients(id),
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    message_id       BIGINT NOT NULL REFERENCES message_log(id),
    kind             TEXT NOT NULL,
    code             TEXT NOT NULL,
    code_text        TEXT,
    observed_on      TEXT NOT NULL,
    reason_code      TEXT,
    reason_text      TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (organization_id, patient_id, kind, code, observed_on)
);
CREATE INDEX patient_observations_patient ON patient_observations (patient_id);

-- Possible matches for a person to look at, and the merges done (each reversible).
CREATE TABLE match_reviews (
    id            INTEGER PRIMARY KEY,
    patient_id    BIGINT NOT NULL REFERENCES patients(id),
    candidate_id  BIGINT NOT NULL REFERENCES patients(id),
    reason        TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open',
    created_at    TEXT NOT NULL,
    resolved_at   TEXT
);
CREATE TABLE patient_merges (
    id           INTEGER PRIMARY KEY,
    survivor_id  BIGINT NOT NULL REFERENCES patients(id),
    merged_id    BIGINT NOT NULL REFERENCES patients(id),
    review_id    BIGINT,
    merged_at    TEXT NOT NULL,
    unmerged_at  TEXT
);

-- Safe resend: one row per (organization, MSH-10, content). A resend of the same content finds
-- the response stored with the first; a concurrent twin waits on the key.
CREATE TABLE message_keys (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    control_id       TEXT NOT NULL,
    content_hash     TEXT NOT NULL,
    message_id       BIGINT,
    PRIMARY KEY (organization_id, control_id, content_hash)
);
ALTER TABLE message_log ADD COLUMN error_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE message_log ADD COLUMN warning_count BIGINT NOT NULL DEFAULT 0;
CREATE INDEX message_log_org_processing ON message_log (organization_id, processing_id, id);
