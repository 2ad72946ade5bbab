-- Consent notification files: for each message of a file, the patient it named as the sender
-- sent it (PID-3.1 of the first repetition and its assigning authority, PID-3.4) and the
-- registry record it was kept on (none when nothing was kept). Read only to write the
-- organization's own consent notification file into its Receive folder. Same text on both
-- backends.
ALTER TABLE batch_messages ADD COLUMN submitter_id TEXT;
ALTER TABLE batch_messages ADD COLUMN submitter_authority TEXT;
ALTER TABLE batch_messages ADD COLUMN patient_id BIGINT;
