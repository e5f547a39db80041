-- webhook_claim in constant time per claim (issue 16). 0301 counted each
-- endpoint's in-flight deliveries by walking every pending row of that
-- endpoint (its whole backlog) on every claim. In flight means leased, and a
-- delivery holds a lease only while an attempt runs (record and release set
-- lease_until back to NULL), so a partial index over leased rows holds at
-- most PerEndpoint live rows per endpoint plus the leases of dispatchers
-- that died: counting there costs O(in flight), whatever the backlog or the
-- delivered/failed history. Candidates still come per endpoint from the
-- due-deliveries index (endpoint_id, next_attempt_at) WHERE pending, read
-- from its head and stopped after the free slots, so a claim costs
-- O(enabled endpoints × PerEndpoint) index probes and no row count. The
-- function is plpgsql planned with its actual arguments (a generic plan
-- guessed that few rows were due and walked the global due index, reading
-- the other endpoints' backlogs), runs without JIT (those estimates made
-- every claim pay ~20 ms of compilation), and fetches the picked rows by
-- primary key.
CREATE INDEX webhook_deliveries_leased ON webhook_deliveries (endpoint_id, lease_until)
  WHERE status = 'pending' AND lease_until IS NOT NULL;
CREATE INDEX webhook_endpoints_enabled ON webhook_endpoints (id) WHERE enabled;
-- The candidates' index gives the claim's whole order (next_attempt_at, id)
-- within one endpoint, so no plan prefers walking the global due index and
-- filtering on endpoint (which reads every other endpoint's backlog).
CREATE INDEX webhook_deliveries_endpoint_next ON webhook_deliveries (endpoint_id, next_attempt_at, id)
  WHERE status = 'pending';
DROP INDEX webhook_deliveries_endpoint_due;
-- The global due index (0300) has had no reader since 0301, and the planner
-- kept preferring it for the per-endpoint candidates, filtering out every
-- other endpoint's backlog row by row: it goes. (The earliest due time over
-- all endpoints is a lateral min over the enabled endpoints on the index
-- above.)
DROP INDEX webhook_deliveries_due;

CREATE OR REPLACE FUNCTION webhook_claim(p_now timestamptz, p_lease interval, p_per_endpoint int, p_limit int)
RETURNS TABLE (delivery_id uuid, workspace_id uuid, endpoint_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public SET jit = off
  SET plan_cache_mode = force_custom_plan AS $$
BEGIN
  RETURN QUERY WITH picked AS (
    SELECT c.id, c.rn FROM webhook_endpoints e
    CROSS JOIN LATERAL (
      SELECT count(*) AS n FROM webhook_deliveries b
      WHERE b.endpoint_id = e.id AND b.status = 'pending'
        AND b.lease_until IS NOT NULL AND b.lease_until > p_now
    ) busy
    CROSS JOIN LATERAL (
      SELECT d.id, row_number() OVER (ORDER BY d.next_attempt_at, d.id) AS rn
      FROM webhook_deliveries d
      WHERE d.endpoint_id = e.id AND d.status = 'pending'
        AND d.next_attempt_at <= p_now
        AND (d.lease_until IS NULL OR d.lease_until <= p_now)
      ORDER BY d.next_attempt_at, d.id
      LIMIT greatest(p_per_endpoint - busy.n, 0)
    ) c
    WHERE e.enabled AND busy.n < p_per_endpoint
    ORDER BY c.rn, c.id
    LIMIT p_limit
  ), locked AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.id = ANY (ARRAY(SELECT id FROM picked)) AND d.status = 'pending'
      AND (d.lease_until IS NULL OR d.lease_until <= p_now)
    FOR UPDATE SKIP LOCKED
  )
  UPDATE webhook_deliveries d SET lease_until = p_now + p_lease
  WHERE d.id = ANY (ARRAY(SELECT id FROM locked))
  RETURNING d.id, d.workspace_id, d.endpoint_id;
END $$;
