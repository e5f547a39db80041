-- Invitations (issue 13): membership needs the invitee's consent. An admin
-- invites an address with a role; the invitee becomes a member only by
-- accepting, signed in with that verified address. The mailed token is
-- stored only as SHA-256.
CREATE TABLE invitations (
  id              uuid PRIMARY KEY,
  workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  email           text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
  email_canonical text NOT NULL,
  role            text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
  token_hash      bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  invited_by      uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  accepted_at     timestamptz,
  accepted_by     uuid REFERENCES users(id) ON DELETE SET NULL,
  revoked_at      timestamptz,
  CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);
-- One open invitation per address and workspace (a new one replaces it).
CREATE UNIQUE INDEX invitations_open ON invitations (workspace_id, email_canonical)
  WHERE accepted_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_ws ON invitations (workspace_id, id);

ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON invitations USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON invitations TO framebroker_app;

-- invitation_workspace names the workspace of an invitation token, the one
-- read of invitations that must cross workspaces (the invitee is not a
-- member yet). It takes only the token's hash and returns only the
-- workspace id; everything else is read under row-level security.
CREATE FUNCTION invitation_workspace(p_token_hash bytea) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT workspace_id FROM invitations WHERE token_hash = p_token_hash
$$;
REVOKE ALL ON FUNCTION invitation_workspace(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION invitation_workspace(bytea) TO framebroker_app;
