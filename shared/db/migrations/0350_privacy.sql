-- Privacy (T-12): per-workspace settings (training capture opt-in,
-- retention class), the right to delete (deletion request, grace, purge,
-- tombstone), and the retention trim of job trails. See shared/privacy.

ALTER TABLE workspaces
  ADD COLUMN training_opt_in       boolean     NOT NULL DEFAULT false,
  ADD COLUMN retention             text        NOT NULL DEFAULT 'standard' CHECK (retention IN ('standard', 'broadcast')),
  ADD COLUMN settings_updated_at   timestamptz,
  ADD COLUMN deletion_requested_at timestamptz,
  ADD COLUMN purge_after           timestamptz,
  ADD CONSTRAINT deletion_scheduled CHECK ((deletion_requested_at IS NULL) = (purge_after IS NULL));
CREATE INDEX workspaces_purge_due ON workspaces (purge_after) WHERE purge_after IS NOT NULL;

-- A tombstone is all that remains of a purged workspace: its id, when the
-- deletion was asked for and done, and how many rows and objects went. No
-- names, emails or other personal data. The column is deliberately not
-- named workspace_id: it is not tenant data (no row security; the app role
-- has no grant; only workspace_purge writes it).
CREATE TABLE workspace_tombstones (
  id              uuid        PRIMARY KEY,
  requested_at    timestamptz NOT NULL,
  purged_at       timestamptz NOT NULL DEFAULT now(),
  rows_deleted    jsonb       NOT NULL,
  objects_deleted bigint      NOT NULL CHECK (objects_deleted >= 0)
);

-- workspace_purge_claim returns one workspace whose purge is due, locked
-- FOR UPDATE SKIP LOCKED until the caller's transaction ends, so two purges
-- running at once never take the same workspace. A workspace with an open
-- job (queued or running) waits: its worker may still hold upload URLs.
-- "Due" is by the database clock: the caller cannot bring a purge forward.
CREATE FUNCTION workspace_purge_claim()
RETURNS TABLE (id uuid, deletion_requested_at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  SELECT w.id, w.deletion_requested_at FROM workspaces w
  WHERE w.purge_after <= now()
    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workspace_id = w.id AND j.status IN ('queued', 'running'))
  ORDER BY w.purge_after
  LIMIT 1
  FOR UPDATE OF w SKIP LOCKED
$$;
REVOKE ALL ON FUNCTION workspace_purge_claim() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workspace_purge_claim() TO framebroker_app;

-- workspace_purge deletes every row of workspace p_ws (which must be
-- scheduled for deletion and due by the database clock) in every table that has a workspace_id
-- column, then the workspace row itself, and writes the tombstone. It runs
-- as the owner (row security does not apply to it).
--
-- Order matters:
--   * release_shots references shots ON DELETE RESTRICT, and
--     release_manifests references releases without a cascade: both go
--     first, or the cascade from workspaces would trip on them;
--   * the append-only tables (ledger_*, job_events) refuse a DELETE while
--     their workspace (or job) row exists, so they go with the cascade
--     from workspaces, after it is gone — no escape is opened for them;
--   * every remaining workspace_id table is swept afterwards, so a table
--     added later without a cascade cannot keep rows of a purged workspace.
-- It returns the per-table counts.
CREATE FUNCTION workspace_purge(p_ws uuid, p_objects bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  t text;
  n bigint;
  counts jsonb := '{}';
  requested timestamptz;
BEGIN
  SELECT w.deletion_requested_at INTO requested FROM workspaces w
  WHERE w.id = p_ws AND w.purge_after <= now() FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'workspace_purge: workspace % is not due for purge', p_ws USING ERRCODE = 'check_violation';
  END IF;
  FOR t IN SELECT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables tb USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND c.column_name = 'workspace_id' AND tb.table_type = 'BASE TABLE'
           ORDER BY c.table_name LOOP
    EXECUTE format('SELECT count(*) FROM %I WHERE workspace_id = $1', t) INTO n USING p_ws;
    IF n > 0 THEN
      counts := counts || jsonb_build_object(t, n);
    END IF;
  END LOOP;
  counts := counts || jsonb_build_object('workspaces', 1);
  DELETE FROM release_shots WHERE workspace_id = p_ws;
  DELETE FROM release_manifests WHERE workspace_id = p_ws;
  DELETE FROM workspaces WHERE id = p_ws;
  FOR t IN SELECT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables tb USING (table_schema, table_name)
           WHERE c.table_schema = 'public' AND c.column_name = 'workspace_id' AND tb.table_type = 'BASE TABLE' LOOP
    EXECUTE format('DELETE FROM %I WHERE workspace_id = $1', t) USING p_ws;
  END LOOP;
  INSERT INTO workspace_tombstones (id, requested_at, purged_at, rows_deleted, objects_deleted)
  VALUES (p_ws, requested, now(), counts, p_objects);
  RETURN counts;
END $$;
REVOKE ALL ON FUNCTION workspace_purge(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workspace_purge(uuid, bigint) TO framebroker_app;

-- retention_workspaces lists, after p_after (keyset), the workspaces the
-- retention cron visits: every workspace not scheduled for deletion, with
-- its retention class. It reveals no tenant data beyond ids and the class.
CREATE FUNCTION retention_workspaces(p_after uuid, p_limit int)
RETURNS TABLE (id uuid, retention text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT w.id, w.retention FROM workspaces w
  WHERE w.id > p_after AND w.deletion_requested_at IS NULL
  ORDER BY w.id LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION retention_workspaces(uuid, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION retention_workspaces(uuid, int) TO framebroker_app;

-- Job trails are append-only (0200_jobs.sql). Retention gets one narrow
-- exit, shaped like ledger_trim: job_events_trim(ws) deletes the trail
-- events of workspace p_ws older than its retention window (standard: 90
-- days, broadcast: 7 years, by the database clock). The function decides
-- the window itself, and only for the workspace the transaction is scoped
-- to, so a caller can neither shorten retention nor reach another tenant.
-- It is SECURITY DEFINER and sets framebroker.job_events_trim for its own
-- DELETE only; the app role has no DELETE grant on job_events, so setting
-- that flag itself gains it nothing. UPDATE and TRUNCATE stay refused for
-- everyone.
CREATE OR REPLACE FUNCTION job_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id) THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'DELETE' AND current_setting('framebroker.job_events_trim', true) = 'on' THEN
    RETURN OLD; -- inside job_events_trim
  END IF;
  RAISE EXCEPTION 'job_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE FUNCTION retention_window(p_class text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE p_class WHEN 'broadcast' THEN interval '7 years' ELSE interval '90 days' END
$$;

CREATE FUNCTION job_events_trim(p_ws uuid) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
  n bigint;
  cutoff timestamptz;
BEGIN
  IF p_ws IS DISTINCT FROM app_workspace_id() THEN
    RAISE EXCEPTION 'job_events_trim: the transaction is not scoped to workspace %', p_ws USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT now() - retention_window(w.retention) INTO cutoff FROM workspaces w WHERE w.id = p_ws;
  IF cutoff IS NULL THEN
    RETURN 0;
  END IF;
  PERFORM set_config('framebroker.job_events_trim', 'on', true);
  DELETE FROM job_events WHERE workspace_id = p_ws AND at < cutoff;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('framebroker.job_events_trim', 'off', true);
  RETURN n;
END $$;
REVOKE ALL ON FUNCTION job_events_trim(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION job_events_trim(uuid) TO framebroker_app;

-- jobs_stale lists open jobs the reconcile cron must look at: queued with
-- no execution for longer than p_queued, or open (running, or queued with
-- an execution) with no update for longer than p_running. The reconciler
-- then locks each in its own workspace-scoped transaction and re-checks.
CREATE FUNCTION jobs_stale(p_now timestamptz, p_queued interval, p_running interval, p_limit int)
RETURNS TABLE (id uuid, workspace_id uuid)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT j.id, j.workspace_id FROM jobs j
  WHERE j.status IN ('queued', 'running')
    AND ((j.status = 'queued' AND j.execution_id IS NULL AND j.updated_at < p_now - p_queued)
      OR (j.updated_at < p_now - p_running))
  ORDER BY j.updated_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION jobs_stale(timestamptz, interval, interval, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobs_stale(timestamptz, interval, interval, int) TO framebroker_app;
