-- webhook_claim, cheaper when one endpoint has a deep backlog: candidates
-- are read per endpoint (at most p_per_endpoint each, from an index), so a
-- dead endpoint's queue is never sorted on every claim.
CREATE INDEX webhook_deliveries_endpoint_due ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';

CREATE OR REPLACE FUNCTION webhook_claim(p_now timestamptz, p_lease interval, p_per_endpoint int, p_limit int)
RETURNS TABLE (delivery_id uuid, workspace_id uuid, endpoint_id uuid)
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
  WITH picked AS (
    SELECT c.id, c.rn FROM webhook_endpoints e
    CROSS JOIN LATERAL (
      SELECT count(*) AS n FROM webhook_deliveries b
      WHERE b.endpoint_id = e.id AND b.status = 'pending' AND b.lease_until > p_now
    ) busy
    CROSS JOIN LATERAL (
      SELECT d.id, row_number() OVER (ORDER BY d.next_attempt_at, d.id) AS rn
      FROM webhook_deliveries d
      WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= p_now
        AND (d.lease_until IS NULL OR d.lease_until <= p_now)
      ORDER BY d.next_attempt_at, d.id
      LIMIT greatest(p_per_endpoint - busy.n, 0)
    ) c
    WHERE e.enabled
    ORDER BY c.rn, c.id
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
