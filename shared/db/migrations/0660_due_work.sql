-- Due-only crons (issue 16, idle cost): a run of webhook-retries,
-- asset-verify or job-reconcile that leaves nothing pending switches its
-- own schedule off, so a paused Aurora stays paused. These answer "is
-- anything pending?" across workspaces (they run as the owner, like the
-- claims they mirror) and return one boolean, nothing about any tenant.
-- Each reads the same partial index its claim does.

-- A delivery is pending while it may still be attempted: status pending
-- on an enabled endpoint (a disabled endpoint's deliveries wait for it to
-- be re-enabled, which wakes the schedule).
CREATE FUNCTION webhook_pending() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT EXISTS (SELECT 1 FROM webhook_endpoints e
                 WHERE e.enabled AND EXISTS (SELECT 1 FROM webhook_deliveries d
                                             WHERE d.endpoint_id = e.id AND d.status = 'pending'))
$$;
REVOKE ALL ON FUNCTION webhook_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_pending() TO framebroker_app;

-- An asset awaits verification while it is 'verifying'.
CREATE FUNCTION asset_verify_pending() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT EXISTS (SELECT 1 FROM assets WHERE status = 'verifying')
$$;
REVOKE ALL ON FUNCTION asset_verify_pending() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION asset_verify_pending() TO framebroker_app;

-- The reconciler watches every open job (queued or running; index jobs_open).
CREATE FUNCTION jobs_open() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT EXISTS (SELECT 1 FROM jobs WHERE status IN ('queued', 'running'))
$$;
REVOKE ALL ON FUNCTION jobs_open() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION jobs_open() TO framebroker_app;
