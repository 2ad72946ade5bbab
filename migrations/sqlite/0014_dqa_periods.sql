-- Data quality reports over a period, for both doors (issue 13).
--
-- web_messages: what a report and a consent notification list need about each message that
-- came through the web service, written by the SOAP door in the message's own transaction (so
-- it exists exactly when the message_log row does). The same notes batch_messages keeps for a
-- file's messages: MSA-1, MSH-10, the facts (JSON, src/dqa/facts.rs: no names, birth dates,
-- identifiers or addresses), the patient as the sender named it (PID-3.1, PID-3.4; read only
-- for the sender's own consent notification list) and the record it was kept on. A period's
-- messages are web_messages by received_at plus the batch_messages of runs finished in it.
--
-- dqa_weekly_reports: one row per organization and week whose weekly report was written; the
-- row is inserted in the transaction that places the report's files, and its key makes a
-- second node's attempt a no-op, so each week's report is written exactly once.
--
-- Same text on both backends.
CREATE TABLE web_messages (
    message_id           BIGINT PRIMARY KEY REFERENCES message_log(id),
    organization_id      BIGINT NOT NULL REFERENCES organizations(id),
    received_at          TEXT NOT NULL,
    control_id           TEXT,
    ack_code             TEXT NOT NULL,
    facts                TEXT,
    submitter_id         TEXT,
    submitter_authority  TEXT,
    patient_id           BIGINT
);
CREATE INDEX web_messages_org_received ON web_messages (organization_id, received_at);
CREATE INDEX batches_org_finished ON batches (organization_id, finished_at);

CREATE TABLE dqa_weekly_reports (
    organization_id  BIGINT NOT NULL REFERENCES organizations(id),
    week_from        TEXT NOT NULL,
    week_to          TEXT NOT NULL,
    node             TEXT NOT NULL,
    written_at       TEXT NOT NULL,
    PRIMARY KEY (organization_id, week_from)
);
