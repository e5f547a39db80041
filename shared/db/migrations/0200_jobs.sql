-- Encode jobs (T-04, T-05, T-11): the job, its append-only audit trail, the
-- outputs it registered, and the health of each encode provider.

CREATE TABLE jobs (
  id              uuid PRIMARY KEY,
  workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  preset          text NOT NULL,
  inputs          uuid[] NOT NULL CHECK (cardinality(inputs) BETWEEN 1 AND 16),
  shot_id         uuid,
  status          text NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'completed', 'failed', 'canceled')),
  attempt         int  NOT NULL DEFAULT 1,
  input_duration  double precision,
  provider        text,
  execution_id    text,
  error           text,
  idempotency_key text CHECK (length(idempotency_key) <= 255),
  request_hash    bytea,
  created_by      uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,
  UNIQUE (id, workspace_id),
  UNIQUE (workspace_id, idempotency_key),
  FOREIGN KEY (shot_id, workspace_id) REFERENCES shots (id, workspace_id) ON DELETE SET NULL (shot_id)
);
CREATE INDEX jobs_ws ON jobs (workspace_id, id);
CREATE INDEX jobs_open ON jobs (status, updated_at) WHERE status IN ('queued', 'running');

-- Outputs are assets the job produced, registered only after verification.
CREATE TABLE job_outputs (
  workspace_id uuid NOT NULL,
  job_id       uuid NOT NULL,
  name         text NOT NULL,
  asset_id     uuid NOT NULL,
  PRIMARY KEY (job_id, name),
  FOREIGN KEY (job_id, workspace_id) REFERENCES jobs (id, workspace_id) ON DELETE CASCADE,
  FOREIGN KEY (asset_id, workspace_id) REFERENCES assets (id, workspace_id) ON DELETE CASCADE
);

-- The per-job audit trail (T-05): append-only for everyone but a purge.
CREATE TABLE job_events (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL,
  job_id       uuid NOT NULL,
  at           timestamptz NOT NULL DEFAULT clock_timestamp(),
  stage        text NOT NULL CHECK (length(stage) <= 64),
  attempt      int  NOT NULL DEFAULT 1,
  detail       jsonb NOT NULL DEFAULT '{}',
  FOREIGN KEY (job_id, workspace_id) REFERENCES jobs (id, workspace_id) ON DELETE CASCADE
);
CREATE INDEX job_events_job ON job_events (workspace_id, job_id, id);

-- Rows may only leave with their job (workspace purge, retention): a
-- DELETE whose job row still exists is refused, and UPDATE always is.
CREATE FUNCTION job_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM jobs WHERE id = OLD.job_id) THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'job_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER job_events_no_update BEFORE UPDATE OR DELETE ON job_events
  FOR EACH ROW EXECUTE FUNCTION job_events_append_only();
CREATE FUNCTION job_events_no_truncate() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'job_events is append-only (TRUNCATE refused)' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER job_events_no_truncate BEFORE TRUNCATE ON job_events
  FOR EACH STATEMENT EXECUTE FUNCTION job_events_no_truncate();

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['jobs', 'job_outputs', 'job_events'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON jobs TO framebroker_app;
GRANT SELECT, INSERT ON job_outputs, job_events TO framebroker_app;
GRANT USAGE ON SEQUENCE job_events_id_seq TO framebroker_app;

-- Encode providers (T-11): not tenant data. Consecutive failures put a
-- provider in cooldown; submission skips it and fails over.
CREATE TABLE encode_providers (
  name                 text PRIMARY KEY,
  consecutive_failures int  NOT NULL DEFAULT 0,
  cooldown_until       timestamptz,
  last_error           text,
  updated_at           timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT, UPDATE ON encode_providers TO framebroker_app;
