-- Checksummed, create-once uploads (issue 11). The client declares the
-- SHA-256 and size; single PUTs sign the checksum, multipart uploads sign
-- each part's. A multipart asset is 'verifying' until the whole-object
-- SHA-256 has been computed outside any request (resumable: the hash state
-- and offset are kept here between cron runs) and it has been probed.
-- 'rejected': the bytes did not match, or the media was refused.
ALTER TABLE assets DROP CONSTRAINT assets_status_check;
ALTER TABLE assets ADD CONSTRAINT assets_status_check CHECK (status IN ('pending', 'verifying', 'complete', 'rejected'));
ALTER TABLE assets
  ADD COLUMN declared_sha256    bytea CHECK (declared_sha256 IS NULL OR length(declared_sha256) = 32),
  ADD COLUMN upload_id          text,
  ADD COLUMN part_size          bigint CHECK (part_size IS NULL OR part_size > 0),
  ADD COLUMN composite_checksum text,
  ADD COLUMN verify_offset      bigint NOT NULL DEFAULT 0,
  ADD COLUMN verify_state       bytea,
  ADD COLUMN verify_lease_until timestamptz,
  ADD COLUMN error              text;
CREATE INDEX assets_verifying ON assets (created_at) WHERE status = 'verifying';

-- asset_verify_claim leases up to p_limit verifying assets (of any
-- workspace: it runs as the owner) for p_lease and returns them. A lease
-- that ran out (a crashed verifier) is claimed again.
CREATE FUNCTION asset_verify_claim(p_lease interval, p_limit int)
RETURNS TABLE (id uuid, workspace_id uuid)
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  UPDATE assets a SET verify_lease_until = now() + p_lease
  WHERE a.id IN (SELECT c.id FROM assets c
                 WHERE c.status = 'verifying' AND (c.verify_lease_until IS NULL OR c.verify_lease_until < now())
                 ORDER BY c.created_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
  RETURNING a.id, a.workspace_id
$$;
REVOKE ALL ON FUNCTION asset_verify_claim(interval, int) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION asset_verify_claim(interval, int) TO framebroker_app;

-- asset_object_status answers, for object keys found in the store, the
-- status of the asset that owns each (NULL: no asset row), and its
-- multipart upload id, so the sweep can delete orphans across workspaces.
CREATE FUNCTION asset_object_status(p_keys text[])
RETURNS TABLE (key text, status text, upload_id text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT k, a.status, a.upload_id FROM unnest(p_keys) k LEFT JOIN assets a ON a.object_key = k
$$;
REVOKE ALL ON FUNCTION asset_object_status(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION asset_object_status(text[]) TO framebroker_app;
