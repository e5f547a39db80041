-- webhook_claim fetches and leases the picked deliveries by primary key
-- whatever the table's statistics (issue 16: a healthy endpoint beside a
-- failing one as fast as alone). 0630 selected the picked rows with
-- `id = ANY (ARRAY(SELECT …))`, an array the planner cannot size: on a table
-- that autovacuum had not analyzed yet (every new deployment, every test
-- database) it read the whole pending index or scanned the whole table,
-- twice per claim, so a claim grew with the delivered history after all.
-- Now each picked id is locked through a lateral primary-key look-up, and
-- the lease is written by a nested-loop join on the key (hash and merge
-- joins are off for this function: they only ever win by reading the whole
-- table).
--
-- The plan is generic (planned once per connection): 0630 re-planned every
-- claim (0.3–0.7 ms, more than running it) because a generic plan walked
-- the global due index, which 0630 dropped. Every remaining path of the
-- generic plan starts from an endpoint-leading index (leased count,
-- candidates in (endpoint_id, next_attempt_at, id) order) or the primary
-- key, as the custom plans do (checked with a 50 000-row backlog beside a
-- healthy endpoint). Everything else is 0630's.
CREATE OR REPLACE FUNCTION webhook_claim(p_now timestamptz, p_lease interval, p_per_endpoint int, p_limit int)
RETURNS TABLE (delivery_id uuid, workspace_id uuid, endpoint_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public SET jit = off
  SET plan_cache_mode = force_generic_plan SET enable_hashjoin = off SET enable_mergejoin = off AS $$
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
    SELECT l.id FROM picked p CROSS JOIN LATERAL (
      SELECT d.id FROM webhook_deliveries d
      WHERE d.id = p.id AND d.status = 'pending'
        AND (d.lease_until IS NULL OR d.lease_until <= p_now)
      FOR UPDATE SKIP LOCKED
    ) l
  )
  UPDATE webhook_deliveries d SET lease_until = p_now + p_lease
  FROM locked l WHERE d.id = l.id
  RETURNING d.id, d.workspace_id, d.endpoint_id;
END $$;
