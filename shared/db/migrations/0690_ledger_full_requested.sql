-- A full ledger re-verification (GET …/ledger/verify?full=true) that does
-- not finish within its request is recorded here and finished by the
-- due-only ledger-full cron job: no work outlives a request in a process
-- that may be frozen after its reply (Lambda). Cleared when a full
-- verification of the workspace records its outcome.
ALTER TABLE ledger_verified ADD COLUMN full_requested_at timestamptz;

CREATE INDEX ledger_verified_full_requested ON ledger_verified (full_requested_at)
  WHERE full_requested_at IS NOT NULL;

-- The workspaces awaiting a requested full verification (the job runs as
-- the app role across workspaces; it learns ids only, and verifies each
-- inside that workspace's scope).
CREATE FUNCTION ledger_full_requested() RETURNS TABLE (workspace_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT workspace_id FROM ledger_verified
  WHERE full_requested_at IS NOT NULL
  ORDER BY full_requested_at
  LIMIT 100
$$;
REVOKE ALL ON FUNCTION ledger_full_requested() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_full_requested() TO framebroker_app;

CREATE FUNCTION ledger_full_pending() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT EXISTS (SELECT 1 FROM ledger_verified WHERE full_requested_at IS NOT NULL)
$$;
REVOKE ALL ON FUNCTION ledger_full_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_full_pending() TO framebroker_app;
