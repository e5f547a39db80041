-- Ledger (T-06): one hash-chained, append-only event log per workspace, and
-- the signed checkpoints of its head. See shared/ledger for the hash layout.
--
-- The application role may INSERT and SELECT, nothing else; triggers reject
-- UPDATE, DELETE and TRUNCATE for every role, including the owner, with two
-- deliberate exits:
--   * a workspace purge: rows whose workspace row is already gone (the
--     ON DELETE CASCADE from workspaces) may go with it;
--   * ledger_trim(ws, through_seq), a SECURITY DEFINER function that deletes a
--     prefix of the chain, and only up to a stored signed checkpoint, so the
--     remaining events still verify from that checkpoint (retention, T-12).

CREATE TABLE ledger_events (
  workspace_id uuid        NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  seq          bigint      NOT NULL CHECK (seq >= 1),
  at           timestamptz NOT NULL,
  actor        text        NOT NULL CHECK (length(actor) <= 200),
  type         text        NOT NULL CHECK (type ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$' AND length(type) <= 100),
  subject      text        NOT NULL CHECK (length(subject) <= 200),
  payload      jsonb       NOT NULL,
  prev_hash    bytea       NOT NULL CHECK (length(prev_hash) = 32),
  hash         bytea       NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (workspace_id, seq)
);

CREATE TABLE ledger_checkpoints (
  workspace_id uuid        NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  seq          bigint      NOT NULL CHECK (seq >= 1),
  hash         bytea       NOT NULL CHECK (length(hash) = 32),
  at           timestamptz NOT NULL,
  key_id       text        NOT NULL,
  signature    bytea       NOT NULL CHECK (length(signature) = 64),
  PRIMARY KEY (workspace_id, seq)
);

-- Trims are recorded (by ledger_trim) so a shortened chain says why.
CREATE TABLE ledger_trims (
  workspace_id uuid        NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  through_seq  bigint      NOT NULL,
  trimmed_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, through_seq)
);

-- ledger_link checks, at insert, that a new event extends the chain: seq is
-- 1 with a zero prev_hash, or prev_hash is the hash of seq-1 (stored, or held
-- by a checkpoint after a trim). It cannot check the hash itself (that needs
-- RFC 8785 canonical JSON), but it makes a fork or a gap impossible.
CREATE FUNCTION ledger_link() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.seq = 1 THEN
    IF NEW.prev_hash <> '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea THEN
      RAISE EXCEPTION 'ledger: event 1 must have a zero prev_hash' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF EXISTS (SELECT 1 FROM ledger_events WHERE workspace_id = NEW.workspace_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash)
     OR EXISTS (SELECT 1 FROM ledger_checkpoints WHERE workspace_id = NEW.workspace_id AND seq = NEW.seq - 1 AND hash = NEW.prev_hash) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'ledger: event % does not extend the chain', NEW.seq USING ERRCODE = 'check_violation';
END $$;

CREATE TRIGGER ledger_link BEFORE INSERT ON ledger_events
  FOR EACH ROW EXECUTE FUNCTION ledger_link();

-- ledger_immutable rejects changes to ledger rows. It is SECURITY DEFINER so
-- its look-up of the workspace row is not filtered by row security.
CREATE FUNCTION ledger_immutable() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF NOT EXISTS (SELECT 1 FROM workspaces WHERE id = OLD.workspace_id) THEN
      RETURN OLD; -- the workspace is being purged
    END IF;
    -- Set (transaction-locally) only by ledger_trim. The app role has no
    -- DELETE grant, so setting it itself gains nothing.
    IF current_setting('framebroker.ledger_trim', true) = 'on' THEN
      RETURN OLD; -- inside ledger_trim
    END IF;
  END IF;
  RAISE EXCEPTION 'ledger: % on % is not allowed: the ledger is append-only', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['ledger_events', 'ledger_checkpoints', 'ledger_trims'] LOOP
    EXECUTE format('CREATE TRIGGER immutable_row BEFORE UPDATE OR DELETE ON %I FOR EACH ROW EXECUTE FUNCTION ledger_immutable()', t);
    EXECUTE format('CREATE TRIGGER immutable_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION ledger_immutable()', t);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT ON ledger_events, ledger_checkpoints TO framebroker_app;
GRANT SELECT ON ledger_trims TO framebroker_app;

-- ledger_trim deletes the events of workspace p_ws with seq <= p_through,
-- which must be the seq of a stored checkpoint whose hash is that event's
-- hash: the remaining chain then verifies from the checkpoint (its signature
-- vouches for the trimmed prefix). It returns the number of events deleted.
-- It runs as the owner; the app role may call it but still cannot DELETE.
CREATE FUNCTION ledger_trim(p_ws uuid, p_through bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE n bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ledger_checkpoints c JOIN ledger_events e
                   ON e.workspace_id = c.workspace_id AND e.seq = c.seq AND e.hash = c.hash
                 WHERE c.workspace_id = p_ws AND c.seq = p_through) THEN
    RAISE EXCEPTION 'ledger_trim: no checkpoint at seq % matching the chain', p_through
      USING ERRCODE = 'check_violation';
  END IF;
  PERFORM set_config('framebroker.ledger_trim', 'on', true);
  DELETE FROM ledger_events WHERE workspace_id = p_ws AND seq <= p_through;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM set_config('framebroker.ledger_trim', 'off', true);
  INSERT INTO ledger_trims (workspace_id, through_seq) VALUES (p_ws, p_through) ON CONFLICT DO NOTHING;
  RETURN n;
END $$;
REVOKE ALL ON FUNCTION ledger_trim(uuid, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ledger_trim(uuid, bigint) TO framebroker_app;
