-- Demographic candidates are looked up by birth date together with a name (see the store's
-- `candidates`): one index on the three serves those lookups, and replaces the birth date alone.
CREATE INDEX patients_birth_date_names ON patients (birth_date, family_norm, given_norm);
DROP INDEX patients_birth_date;
