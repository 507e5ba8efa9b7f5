-- The management API lists every API key by (created_at, id): an index in that order lets a
-- page at any offset be read in order instead of sorting the whole table (1 M keys: a full
-- sort per page).
CREATE INDEX api_keys_created_at ON api_keys (created_at, id);
