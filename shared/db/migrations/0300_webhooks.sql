-- Webhooks (T-08): endpoints with encrypted secrets, the outbox of messages
-- (written in the transaction of the event that caused them), one delivery
-- row per message and endpoint, and every attempt.

CREATE TABLE webhook_endpoints (
  id                   uuid PRIMARY KEY,
  workspace_id         uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  url                  text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
  description          text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
  event_types          text[] NOT NULL DEFAULT '{}', -- empty: every event
  enabled              boolean NOT NULL DEFAULT true,
  disabled_reason      text,
  -- AES-256-GCM(nonce || ciphertext) of the raw secret bytes.
  secret_enc           bytea NOT NULL,
  -- During a rotation's overlap window the previous secret signs too.
  prev_secret_enc      bytea,
  prev_secret_until    timestamptz,
  consecutive_failures int NOT NULL DEFAULT 0,
  created_by           uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  UNIQUE (id, workspace_id)
);
CREATE INDEX webhook_endpoints_ws ON webhook_endpoints (workspace_id, id);

-- The outbox: one row per event, body frozen as the exact bytes signed.
CREATE TABLE webhook_messages (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  event_type   text NOT NULL,
  body         bytea NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (id, workspace_id)
);

CREATE TABLE webhook_deliveries (
  id              uuid PRIMARY KEY,
  workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  endpoint_id     uuid NOT NULL,
  message_id      uuid NOT NULL,
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts        int NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,          -- when pending
  lease_until     timestamptz,          -- a dispatcher holds it until then
  last_attempt_at timestamptz,
  response_status int,
  latency_ms      int,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  finished_at     timestamptz,          -- delivered or given up
  UNIQUE (id, workspace_id),
  FOREIGN KEY (endpoint_id, workspace_id) REFERENCES webhook_endpoints (id, workspace_id) ON DELETE CASCADE,
  FOREIGN KEY (message_id, workspace_id) REFERENCES webhook_messages (id, workspace_id) ON DELETE CASCADE
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (workspace_id, endpoint_id, id);
CREATE INDEX webhook_deliveries_message ON webhook_deliveries (message_id);
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (finished_at) WHERE status <> 'pending';

CREATE TABLE webhook_attempts (
  delivery_id     uuid NOT NULL,
  workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  n               int NOT NULL,
  attempted_at    timestamptz NOT NULL,
  response_status int,
  latency_ms      int NOT NULL,
  error           text,
  PRIMARY KEY (delivery_id, n),
  FOREIGN KEY (delivery_id, workspace_id) REFERENCES webhook_deliveries (id, workspace_id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_messages', 'webhook_deliveries', 'webhook_attempts'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id())', t);
  END LOOP;
END $$;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints, webhook_messages, webhook_deliveries, webhook_attempts TO framebroker_app;

-- webhook_claim leases up to p_limit due deliveries of enabled endpoints,
-- at most p_per_endpoint in flight per endpoint (so one slow endpoint cannot
-- take every slot), skipping rows another dispatcher has locked. It crosses
-- workspaces, so it runs as the owner and returns identifiers only; the
-- dispatcher then reads and updates each delivery in its workspace's scope.
CREATE FUNCTION webhook_claim(p_now timestamptz, p_lease interval, p_per_endpoint int, p_limit int)
RETURNS TABLE (delivery_id uuid, workspace_id uuid, endpoint_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH busy AS (
    SELECT d.endpoint_id, count(*) AS n FROM webhook_deliveries d
    WHERE d.status = 'pending' AND d.lease_until > p_now
    GROUP BY d.endpoint_id
  ), ranked AS (
    SELECT d.id, d.endpoint_id,
           row_number() OVER (PARTITION BY d.endpoint_id ORDER BY d.next_attempt_at, d.id) AS rn
    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.status = 'pending' AND e.enabled AND d.next_attempt_at <= p_now
      AND (d.lease_until IS NULL OR d.lease_until <= p_now)
  ), picked AS (
    SELECT r.id FROM ranked r LEFT JOIN busy b ON b.endpoint_id = r.endpoint_id
    WHERE r.rn <= p_per_endpoint - coalesce(b.n, 0)
    ORDER BY r.rn, r.id
    LIMIT p_limit
  ), locked AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.id IN (SELECT id FROM picked) AND d.status = 'pending'
      AND (d.lease_until IS NULL OR d.lease_until <= p_now)
    FOR UPDATE SKIP LOCKED
  )
  UPDATE webhook_deliveries d SET lease_until = p_now + p_lease
  FROM locked WHERE d.id = locked.id
  RETURNING d.id, d.workspace_id, d.endpoint_id
$$;
REVOKE ALL ON FUNCTION webhook_claim(timestamptz, interval, int, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_claim(timestamptz, interval, int, int) TO framebroker_app;

-- webhook_trim applies the delivery-record retention: delivered records
-- 30 days after delivery, failed ones 90 days after giving up, records still
-- pending (an endpoint disabled for good) 90 days after creation; then
-- messages no delivery refers to. It deletes at most p_batch deliveries per
-- call, skipping rows in use, and returns how many it deleted.
CREATE FUNCTION webhook_trim(p_now timestamptz, p_batch int)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE n bigint;
BEGIN
  WITH doomed AS (
    SELECT id FROM webhook_deliveries
    WHERE (status = 'delivered' AND finished_at < p_now - interval '30 days')
       OR (status = 'failed' AND finished_at < p_now - interval '90 days')
       OR (status = 'pending' AND created_at < p_now - interval '90 days')
    LIMIT p_batch
    FOR UPDATE SKIP LOCKED
  )
  DELETE FROM webhook_deliveries d USING doomed WHERE d.id = doomed.id;
  GET DIAGNOSTICS n = ROW_COUNT;
  DELETE FROM webhook_messages m
  WHERE m.created_at < p_now - interval '30 days'
    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.message_id = m.id);
  RETURN n;
END $$;
REVOKE ALL ON FUNCTION webhook_trim(timestamptz, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_trim(timestamptz, int) TO framebroker_app;
