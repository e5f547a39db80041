-- TOTP second factor (RFC 6238) with single-use recovery codes. Secrets are
-- AES-GCM sealed by the service (FRAMEBROKER_TOTP_KEY) with the user id as
-- additional data; totp_last_step stops a code being used twice.

ALTER TABLE users
  ADD COLUMN totp_pending    bytea,
  ADD COLUMN totp_secret     bytea,
  ADD COLUMN totp_enabled_at timestamptz,
  ADD COLUMN totp_last_step  bigint NOT NULL DEFAULT 0;

-- Recovery codes: only their SHA-256 is stored; used_at makes each single-use.
CREATE TABLE totp_recovery_codes (
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  code_hash  bytea NOT NULL CHECK (length(code_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  used_at    timestamptz,
  PRIMARY KEY (user_id, code_hash)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON totp_recovery_codes TO framebroker_app;

-- Retention: expired one-time tokens and OAuth states are deleted by the
-- retention cron.
GRANT DELETE ON auth_tokens, oauth_states TO framebroker_app;
