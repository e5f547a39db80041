-- Provenance (T-07): the outputs that make up a shot's canon, and the signed
-- manifest envelope stored when a release is published.

-- shot_outputs links completed assets to the shot they render. Until the
-- encode pipeline exists, outputs are linked by hand
-- (POST /v1/workspaces/{ws}/shots/{shot}/outputs); the pipeline will insert
-- rows with job_id set (its foreign key is added with the jobs table). A
-- table rather than a column on assets: a shot has many outputs, and the job
-- that produced each belongs on the link, not on the asset.
CREATE TABLE shot_outputs (
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  shot_id      uuid NOT NULL,
  asset_id     uuid NOT NULL,
  job_id       uuid,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (shot_id, asset_id),
  FOREIGN KEY (shot_id, workspace_id) REFERENCES shots (id, workspace_id) ON DELETE CASCADE,
  FOREIGN KEY (asset_id, workspace_id) REFERENCES assets (id, workspace_id) ON DELETE CASCADE
);
CREATE INDEX shot_outputs_ws ON shot_outputs (workspace_id, shot_id);

-- release_manifests holds the DSSE envelope of each published release.
-- Manifests are immutable once stored.
CREATE TABLE release_manifests (
  release_id      uuid PRIMARY KEY,
  workspace_id    uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  envelope        bytea NOT NULL,
  manifest_sha256 bytea NOT NULL CHECK (length(manifest_sha256) = 32),
  published_at    timestamptz NOT NULL,
  FOREIGN KEY (release_id, workspace_id) REFERENCES releases (id, workspace_id)
);

CREATE FUNCTION release_manifest_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'release manifests are immutable' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER immutable_row BEFORE UPDATE ON release_manifests
  FOR EACH ROW EXECUTE FUNCTION release_manifest_immutable();

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['shot_outputs', 'release_manifests'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, DELETE ON shot_outputs TO framebroker_app;
GRANT SELECT, INSERT ON release_manifests TO framebroker_app;

-- provenance_envelope is the one public, cross-workspace read: the stored
-- envelope of a published release, by release id (GET /v1/provenance/{release}).
CREATE FUNCTION provenance_envelope(p_release uuid) RETURNS bytea
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT envelope FROM release_manifests WHERE release_id = p_release
$$;
REVOKE ALL ON FUNCTION provenance_envelope(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION provenance_envelope(uuid) TO framebroker_app;
