-- Reads follow merges (a record merged into another counts as the survivor): index the pointer.
-- Keep in step with migrations/postgres/0007_merge_index.sql.
CREATE INDEX patients_merged_into ON patients (merged_into);
