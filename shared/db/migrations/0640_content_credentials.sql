-- Content Credentials (C2PA, issue 17): what a workspace declares about the
-- media it encodes. digital_source_type (an IPTC digital source type URI) is
-- written into every output's c2pa.actions (AI-generated or composite
-- media); NULL declares nothing. Owned by shared/credentials.
CREATE TABLE content_credentials_settings (
  workspace_id        uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
  digital_source_type text CHECK (digital_source_type IN (
    'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia',
    'http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia',
    'http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic',
    'http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia',
    'http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture',
    'http://cv.iptc.org/newscodes/digitalsourcetype/composite')),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE content_credentials_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON content_credentials_settings USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON content_credentials_settings TO framebroker_app;
