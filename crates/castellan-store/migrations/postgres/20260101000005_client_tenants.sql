-- The brands and venues a client may ask tenant tokens for at POST /auth (SPEC 7.4), as a
-- JSON array of {"brand": …, "venues": […]}. Clients stored before this migration are given
-- none: they get no tenant token until an operator gives them their brands and venues.
ALTER TABLE clients ADD COLUMN tenants TEXT NOT NULL DEFAULT '[]';
