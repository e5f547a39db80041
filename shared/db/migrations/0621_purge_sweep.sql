-- Workspace purge without a database lock across object-store deletes
-- (issue 14): a purge claims a workspace with a lease (committed at once),
-- deletes its objects with no transaction open, deletes its rows in a short
-- transaction, then sweeps the prefix again until it is empty and records
-- that in the tombstone. A tombstone whose final sweep did not finish is
-- swept again by the next run.
ALTER TABLE workspaces ADD COLUMN purge_claimed_until timestamptz;
ALTER TABLE workspace_tombstones ADD COLUMN media_swept_at timestamptz;
-- Tombstones written before this migration were swept by the old purge.
UPDATE workspace_tombstones SET media_swept_at = purged_at;

-- workspace_purge_claim leases one due workspace (no open job) for 15
-- minutes and returns it; the lease is committed with the caller's short
-- transaction, so no lock is held while its objects are deleted.
CREATE OR REPLACE FUNCTION workspace_purge_claim()
RETURNS TABLE (id uuid, deletion_requested_at timestamptz)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE workspaces w SET purge_claimed_until = now() + interval '15 minutes'
  WHERE w.id = (
    SELECT c.id FROM workspaces c
    WHERE c.purge_after <= now()
      AND (c.purge_claimed_until IS NULL OR c.purge_claimed_until < now())
      AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.workspace_id = c.id AND j.status IN ('queued', 'running'))
    ORDER BY c.purge_after
    LIMIT 1
    FOR UPDATE SKIP LOCKED)
  RETURNING w.id, w.deletion_requested_at
$$;

-- workspace_tombstones_unswept lists purged workspaces whose final prefix
-- sweep has not completed.
CREATE FUNCTION workspace_tombstones_unswept(p_limit int) RETURNS SETOF uuid
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  SELECT t.id FROM workspace_tombstones t WHERE t.media_swept_at IS NULL ORDER BY t.purged_at LIMIT p_limit
$$;
REVOKE ALL ON FUNCTION workspace_tombstones_unswept(int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workspace_tombstones_unswept(int) TO framebroker_app;

-- workspace_tombstone_swept records that a purged workspace's prefix was
-- found empty, adding the objects the final sweeps removed.
CREATE FUNCTION workspace_tombstone_swept(p_ws uuid, p_objects bigint) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE workspace_tombstones SET media_swept_at = now(), objects_deleted = objects_deleted + p_objects
  WHERE id = p_ws AND media_swept_at IS NULL
$$;
REVOKE ALL ON FUNCTION workspace_tombstone_swept(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION workspace_tombstone_swept(uuid, bigint) TO framebroker_app;
