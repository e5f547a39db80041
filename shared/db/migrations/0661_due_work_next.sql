-- When the earliest pending webhook delivery falls due (NULL: none), so a
-- webhook-retries run whose only work left is a retry hours away can let
-- the database pause until then (issue 16). A delivery in flight (leased)
-- counts as due now. One index probe per enabled endpoint (0630's
-- per-endpoint indexes); it returns a time, nothing about any tenant.
CREATE FUNCTION webhook_next_due() RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT min(CASE WHEN EXISTS (SELECT 1 FROM webhook_deliveries b
                               WHERE b.endpoint_id = e.id AND b.status = 'pending'
                                 AND b.lease_until IS NOT NULL AND b.lease_until > now())
                  THEN now() ELSE n.next_attempt_at END)
  FROM webhook_endpoints e
  CROSS JOIN LATERAL (SELECT d.next_attempt_at FROM webhook_deliveries d
                      WHERE d.endpoint_id = e.id AND d.status = 'pending'
                      ORDER BY d.next_attempt_at, d.id LIMIT 1) n
  WHERE e.enabled
$$;
REVOKE ALL ON FUNCTION webhook_next_due() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_next_due() TO framebroker_app;
