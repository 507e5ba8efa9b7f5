-- Administrators (SPEC 3.4, 5.6): a person's grants carry administrative scopes (`manage_*`,
-- `introspect` …) only when `is_admin` is 1. Every existing user starts without the flag.
-- SMALLINT 0/1 like every boolean here (the sqlx Any driver reads both backends as integers).
ALTER TABLE users ADD COLUMN is_admin SMALLINT NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1));
