-- Retention: files in DQA-Reports, Receive and Accepted are removed after a time (the worker's
-- housekeeping, src/batch/retention.rs). A run outlives its accepted file, so batches.file_id
-- may now be empty (the original was removed); the sweep finds old files by folder and time, and
-- a file's runs by file. Keep in step with migrations/sqlite/0012_retention.sql.
ALTER TABLE batches ALTER COLUMN file_id DROP NOT NULL;
CREATE INDEX batches_file ON batches (file_id);
CREATE INDEX files_folder_received ON files (folder, received_at);
