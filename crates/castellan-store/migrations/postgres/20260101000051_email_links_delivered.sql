-- Whether an email link went out by mail (else it was shown to the OWNER who made it): only a
-- delivered link proves the address it was sent to.
ALTER TABLE email_links ADD COLUMN delivered SMALLINT NOT NULL DEFAULT 0 CHECK (delivered IN (0, 1));
