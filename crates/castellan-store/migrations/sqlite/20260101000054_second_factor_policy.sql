-- An organization's OWNER can require its members to sign in with a second factor: while
-- second_factor_required is 1, a member's session without one counts for nothing, and a member
-- without one is led to set one up at their next sign-in.
ALTER TABLE organizations ADD COLUMN second_factor_required INTEGER NOT NULL DEFAULT 0
    CHECK (second_factor_required IN (0, 1));
