-- Ledger verification without re-serialising (issue 16).
--
-- body holds the exact canonical bytes an event's hash covers (RFC 8785 JSON,
-- see shared/ledger), written by the append itself (hash = sha256(prev_hash
-- || body) computed in the same INSERT). Verification and export read these
-- bytes instead of rebuilding them from the columns. Events appended before
-- this migration have no body and are re-serialised when read. The columns
-- stay (the API lists them); a full verification also checks that they
-- still say what the hashed bytes say.
ALTER TABLE ledger_events ADD COLUMN body bytea;

-- ledger_verified is where online verification stands per workspace: the
-- newest signed checkpoint (seq, hash) up to which the chain verified, so
-- the next verification continues from there instead of from event 1.
-- full_* record the last full re-verification (which may run in the
-- background): when it finished, and the first break it found, if any.
CREATE TABLE ledger_verified (
  workspace_id  uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
  seq           bigint NOT NULL CHECK (seq >= 0),
  hash          bytea NOT NULL CHECK (length(hash) = 32),
  verified_at   timestamptz NOT NULL DEFAULT now(),
  full_at       timestamptz,
  full_valid    boolean,
  full_report   jsonb
);
ALTER TABLE ledger_verified ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON ledger_verified USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id());
GRANT SELECT, INSERT, UPDATE ON ledger_verified TO framebroker_app;
