-- Resource indicators (RFC 8707) become lists: a request may name several resources, and a
-- grant keeps all of them. A code's resources are kept in `resources` (formerly `resource`),
-- separated by spaces (a URI holds none, RFC 3986 §2), as refresh_tokens.audience and
-- opaque_tokens.audience already may be. A value stored before is one resource: a list of one.
ALTER TABLE authorization_codes RENAME COLUMN resource TO resources;
