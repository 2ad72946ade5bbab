-- Data quality reports: what the report of a processed file needs to know about each message,
-- recorded with the message (JSON, written by src/dqa/facts.rs): message type and processing
-- id, how the patient was placed, the doses reported by kind, the latest administration date
-- of an administered dose (timeliness), which completeness fields were present, and each
-- finding's rule id and severity. No patient identity: no names, birth dates, identifiers or
-- addresses. NULL for messages recorded before this migration. Same text on both backends.
ALTER TABLE batch_messages ADD COLUMN facts TEXT;
