-- A client's rate-limit tier (SPEC 8.1): the tier its token requests and its gateway calls
-- are counted under. NULL: tier `default`.
ALTER TABLE clients ADD COLUMN tier TEXT;
