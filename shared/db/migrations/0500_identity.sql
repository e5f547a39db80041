-- Identity complete (T-03): email verification, session idle expiry, one-time
-- tokens (password reset, magic link, email verification), OAuth state and
-- linked identities, and the Postgres rate limiter shared by every Lambda.

ALTER TABLE users
  ADD COLUMN email_verified_at   timestamptz,
  ADD COLUMN password_changed_at timestamptz;

ALTER TABLE sessions
  ADD COLUMN last_seen_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN user_agent   text NOT NULL DEFAULT '' CHECK (length(user_agent) <= 256);

-- One-time tokens mailed to a user. Only the SHA-256 of the token is kept;
-- used_at makes a token single-use.
CREATE TABLE auth_tokens (
  id         uuid PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  purpose    text NOT NULL CHECK (purpose IN ('reset', 'magic', 'verify')),
  token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX auth_tokens_user ON auth_tokens (user_id, purpose);

-- OAuth authorisation requests in flight: the state (as SHA-256), the PKCE
-- verifier and the OIDC nonce, single-use and short-lived.
CREATE TABLE oauth_states (
  state_hash    bytea PRIMARY KEY CHECK (length(state_hash) = 32),
  provider      text NOT NULL,
  code_verifier text NOT NULL,
  nonce         text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  used_at       timestamptz
);

-- Accounts at an OAuth provider linked to a user.
CREATE TABLE oauth_identities (
  provider   text NOT NULL,
  subject    text NOT NULL,
  user_id    uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email      text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (provider, subject)
);
CREATE INDEX oauth_identities_user ON oauth_identities (user_id);

-- Generic cell rate algorithm state: one row per key, tat is the theoretical
-- arrival time. A row whose tat is in the past is the same as no row.
CREATE TABLE rate_limits (
  key text PRIMARY KEY CHECK (length(key) <= 512),
  tat timestamptz NOT NULL
);

-- rate_limit_take spends one unit of key's allowance under GCRA with
-- emission interval p_interval and tolerance p_tolerance (= burst *
-- interval), on the database clock. It returns whether the request is
-- allowed and, if not, how long until it would be.
CREATE FUNCTION rate_limit_take(p_key text, p_interval interval, p_tolerance interval,
                                OUT allowed boolean, OUT retry_after interval)
LANGUAGE plpgsql AS $$
DECLARE
  cur timestamptz;
  t   timestamptz;
  nxt timestamptz;
BEGIN
  INSERT INTO rate_limits (key, tat) VALUES (p_key, '-infinity') ON CONFLICT (key) DO NOTHING;
  SELECT tat INTO cur FROM rate_limits WHERE key = p_key FOR UPDATE;
  t := clock_timestamp();
  nxt := greatest(cur, t) + p_interval;
  IF nxt - t <= p_tolerance THEN
    UPDATE rate_limits SET tat = nxt WHERE key = p_key;
    allowed := true;
    retry_after := interval '0';
  ELSE
    allowed := false;
    retry_after := nxt - t - p_tolerance;
  END IF;
END $$;

GRANT SELECT, INSERT, UPDATE ON auth_tokens, oauth_states, oauth_identities TO framebroker_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits TO framebroker_app;
GRANT EXECUTE ON FUNCTION rate_limit_take(text, interval, interval) TO framebroker_app;
