-- Registrations made with a person's token were once recorded under `client:<id>` alone, the
-- party of that client's own token, so the client itself could re-register (and be handed)
-- clients its people registered. Nothing tells those apart from the client's own
-- registrations, so every `client:<id>` party recorded before this migration is set aside as
-- `legacy:client:<id>`: no later registration matches it, and a repeat creates a new client.
-- A person's party (`client:<id>:user:<id>`) is kept.
UPDATE clients
SET registered_by = 'legacy:' || registered_by
WHERE registered_by LIKE 'client:%' AND registered_by NOT LIKE 'client:%:user:%';
