-- Money and abuse controls (T-10): billing accounts (plan, verified card),
-- the append-only credit ledger, processed Stripe events, spend windows with
-- reservations, and the multi-key rate-limit take.

-- One row per workspace that has touched billing; a missing row is the
-- default plan, no card, plan ceilings.
CREATE TABLE billing_accounts (
  workspace_id     uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
  plan             text NOT NULL DEFAULT 'standard' CHECK (length(plan) BETWEEN 1 AND 40),
  stripe_customer  text CHECK (length(stripe_customer) <= 255),
  card_verified_at timestamptz,
  -- Per-workspace ceilings in micro-USD; NULL means the plan's.
  hourly_ceiling   bigint CHECK (hourly_ceiling >= 0),
  daily_ceiling    bigint CHECK (daily_ceiling >= 0),
  monthly_ceiling  bigint CHECK (monthly_ceiling >= 0),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Stripe events already processed, by event id (idempotency). Only events
-- that name a workspace are recorded.
CREATE TABLE stripe_events (
  id           text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  type         text NOT NULL CHECK (length(type) <= 100),
  received_at  timestamptz NOT NULL DEFAULT now()
);

-- The credit ledger: append-only. Purchases are positive, job charges
-- negative; the balance is the sum. UPDATE and DELETE are refused (except
-- the cascade of a workspace purge); the app role may only INSERT/SELECT.
CREATE TABLE credit_ledger (
  id            bigserial PRIMARY KEY,
  workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  amount_micros bigint NOT NULL CHECK (amount_micros <> 0),
  reason        text NOT NULL CHECK (reason IN ('purchase', 'job', 'adjustment')),
  stripe_event  text UNIQUE,
  job_id        uuid,
  at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((reason = 'purchase') = (stripe_event IS NOT NULL)),
  UNIQUE (job_id, reason)
);
CREATE INDEX credit_ledger_ws ON credit_ledger (workspace_id);

CREATE FUNCTION credit_ledger_append_only() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM workspaces WHERE id = OLD.workspace_id) THEN
    RETURN OLD; -- the workspace is being purged
  END IF;
  RAISE EXCEPTION 'credit ledger: % is not allowed: the ledger is append-only', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER append_only BEFORE UPDATE OR DELETE ON credit_ledger
  FOR EACH ROW EXECUTE FUNCTION credit_ledger_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON credit_ledger
  FOR EACH STATEMENT EXECUTE FUNCTION credit_ledger_append_only();

-- Spend windows: one row per workspace, kind and window start (UTC). The
-- invariant spent + reserved <= ceiling holds on every row: reservations
-- are admitted only under it, and a job is never charged more than it
-- reserved.
CREATE TABLE spend_windows (
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('hour', 'day', 'month')),
  starts_at    timestamptz NOT NULL,
  ends_at      timestamptz NOT NULL,
  ceiling      bigint NOT NULL CHECK (ceiling >= 0),
  spent        bigint NOT NULL DEFAULT 0 CHECK (spent >= 0),
  reserved     bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  alerted      int    NOT NULL DEFAULT 0, -- highest owner alert sent: 0, 80, 100 (percent)
  PRIMARY KEY (workspace_id, kind, starts_at),
  CHECK (spent + reserved <= ceiling)
);

-- One reservation per job, remembering the windows it was taken in (a job
-- is settled into the windows it reserved in, whenever it finishes).
CREATE TABLE spend_reservations (
  job_id       uuid PRIMARY KEY,
  workspace_id uuid NOT NULL,
  amount       bigint NOT NULL CHECK (amount >= 0),
  charged      bigint CHECK (charged >= 0 AND charged <= amount),
  status       text NOT NULL DEFAULT 'reserved' CHECK (status IN ('reserved', 'settled', 'released')),
  hour_start   timestamptz NOT NULL,
  day_start    timestamptz NOT NULL,
  month_start  timestamptz NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  FOREIGN KEY (job_id, workspace_id) REFERENCES jobs (id, workspace_id) ON DELETE CASCADE
);

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['billing_accounts', 'stripe_events', 'credit_ledger', 'spend_windows', 'spend_reservations'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE ON billing_accounts, spend_windows, spend_reservations TO framebroker_app;
GRANT SELECT, INSERT ON stripe_events, credit_ledger TO framebroker_app;
GRANT USAGE ON SEQUENCE credit_ledger_id_seq TO framebroker_app;

-- spend_reserve reserves p_amount for job p_job against the hour, day and
-- month windows containing p_at (NULL: the database clock), creating them
-- with ceilings p_ceilings (day, hour, month order). Window rows are locked
-- in one order, so concurrent reservations serialise per workspace and
-- never deadlock. Either all three windows admit spent + reserved + amount
-- <= ceiling and all are charged, or none is: refused_window names the
-- refusing window that resets last and resets_at when. alerts lists the
-- windows that crossed 80 % or 100 % with this reservation (once each).
CREATE FUNCTION spend_reserve(p_ws uuid, p_job uuid, p_amount bigint, p_ceilings bigint[], p_at timestamptz,
                              OUT ok boolean, OUT refused_window text, OUT resets_at timestamptz, OUT alerts text[])
LANGUAGE plpgsql AS $$
DECLARE
  t      timestamptz := coalesce(p_at, clock_timestamp());
  kinds  text[] := ARRAY['day', 'hour', 'month'];
  starts timestamptz[];
  w      record;
  lvl    int;
BEGIN
  starts := ARRAY[date_trunc('day', t, 'UTC'), date_trunc('hour', t, 'UTC'), date_trunc('month', t, 'UTC')];
  INSERT INTO spend_windows (workspace_id, kind, starts_at, ends_at, ceiling)
  SELECT p_ws, k, s, ((s AT TIME ZONE 'UTC') + ('1 ' || k)::interval) AT TIME ZONE 'UTC', c
  FROM unnest(kinds, starts, p_ceilings) AS u(k, s, c) ORDER BY k
  ON CONFLICT DO NOTHING;
  ok := true;
  alerts := '{}';
  FOR w IN SELECT kind, ends_at, ceiling, spent, reserved FROM spend_windows
           WHERE workspace_id = p_ws AND (kind, starts_at) IN (SELECT * FROM unnest(kinds, starts))
           ORDER BY kind FOR UPDATE
  LOOP
    IF w.spent + w.reserved + p_amount > w.ceiling THEN
      IF ok OR w.ends_at > resets_at THEN
        refused_window := w.kind;
        resets_at := w.ends_at;
      END IF;
      ok := false;
    END IF;
  END LOOP;
  IF NOT ok THEN
    RETURN;
  END IF;
  FOR w IN UPDATE spend_windows SET reserved = reserved + p_amount
           WHERE workspace_id = p_ws AND (kind, starts_at) IN (SELECT * FROM unnest(kinds, starts))
           RETURNING kind, ceiling, spent, reserved, alerted
  LOOP
    lvl := CASE WHEN w.spent + w.reserved >= w.ceiling THEN 100
                WHEN (w.spent + w.reserved) * 100 >= w.ceiling * 80 THEN 80 ELSE 0 END;
    IF lvl > w.alerted THEN
      UPDATE spend_windows SET alerted = lvl WHERE workspace_id = p_ws AND kind = w.kind AND starts_at = starts[array_position(kinds, w.kind)];
      alerts := alerts || (w.kind || ':' || lvl);
    END IF;
  END LOOP;
  INSERT INTO spend_reservations (job_id, workspace_id, amount, day_start, hour_start, month_start)
  VALUES (p_job, p_ws, p_amount, starts[1], starts[2], starts[3]);
END $$;

-- spend_finish ends job p_job's reservation once: settled with charge
-- least(p_charge, reserved amount), or released (p_charge NULL). It returns
-- what was charged, or NULL when the reservation was already finished or
-- never existed.
CREATE FUNCTION spend_finish(p_job uuid, p_charge bigint, OUT charged bigint)
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  UPDATE spend_reservations
     SET status = CASE WHEN p_charge IS NULL THEN 'released' ELSE 'settled' END,
         charged = least(coalesce(p_charge, 0), amount), finished_at = now()
   WHERE job_id = p_job AND status = 'reserved'
  RETURNING * INTO r;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  PERFORM 1 FROM spend_windows
   WHERE workspace_id = r.workspace_id
     AND (kind, starts_at) IN (('day', r.day_start), ('hour', r.hour_start), ('month', r.month_start))
   ORDER BY kind FOR UPDATE;
  UPDATE spend_windows SET reserved = reserved - r.amount, spent = spent + r.charged
   WHERE workspace_id = r.workspace_id
     AND (kind, starts_at) IN (('day', r.day_start), ('hour', r.hour_start), ('month', r.month_start));
  charged := r.charged;
END $$;

-- rate_limit_take_all spends one unit of every key's allowance under GCRA
-- (intervals and tolerances in microseconds, per key), on the database
-- clock, atomically: either every key admits the request and all are
-- spent, or none is. backlog_us is each key's tat - now afterwards (the
-- time until its full burst is back); retry_after_us, when refused, is how
-- long until every key would admit the request. Rows are locked in key
-- order. (rate_limits is created by the identity migration, 0500; plpgsql
-- resolves it at call time.)
CREATE FUNCTION rate_limit_take_all(p_keys text[], p_intervals bigint[], p_tolerances bigint[],
                                    OUT allowed boolean, OUT retry_after_us bigint, OUT backlog_us bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  t    timestamptz;
  i    int;
  cur  timestamptz;
  base bigint;
  nxt  bigint[] := '{}';
  now_ bigint[] := '{}';
BEGIN
  INSERT INTO rate_limits (key, tat) SELECT k, '-infinity' FROM unnest(p_keys) k ORDER BY k ON CONFLICT (key) DO NOTHING;
  PERFORM 1 FROM rate_limits WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;
  t := clock_timestamp();
  allowed := true;
  retry_after_us := 0;
  FOR i IN 1 .. cardinality(p_keys) LOOP
    SELECT tat INTO cur FROM rate_limits WHERE key = p_keys[i];
    base := greatest((extract(epoch FROM greatest(cur, t) - t) * 1000000)::bigint, 0);
    now_ := now_ || base;
    nxt := nxt || (base + p_intervals[i]);
    IF base + p_intervals[i] > p_tolerances[i] THEN
      allowed := false;
      retry_after_us := greatest(retry_after_us, base + p_intervals[i] - p_tolerances[i]);
    END IF;
  END LOOP;
  IF allowed THEN
    UPDATE rate_limits r SET tat = t + b.us * interval '1 microsecond'
      FROM unnest(p_keys, nxt) AS b(k, us) WHERE r.key = b.k;
    backlog_us := nxt;
  ELSE
    backlog_us := now_;
  END IF;
END $$;

GRANT EXECUTE ON FUNCTION spend_reserve(uuid, uuid, bigint, bigint[], timestamptz) TO framebroker_app;
GRANT EXECUTE ON FUNCTION spend_finish(uuid, bigint) TO framebroker_app;
GRANT EXECUTE ON FUNCTION rate_limit_take_all(text[], bigint[], bigint[]) TO framebroker_app;

-- billing_plan is a workspace's plan name ('' for none: the default). It
-- bypasses row-level security so the rate limiter can read it outside a
-- workspace-scoped transaction: callers have already been checked as
-- members of p_ws by the guard, and a plan name is all it reveals.
CREATE FUNCTION billing_plan(p_ws uuid) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT coalesce((SELECT plan FROM billing_accounts WHERE workspace_id = p_ws), '')
$$;
REVOKE ALL ON FUNCTION billing_plan(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION billing_plan(uuid) TO framebroker_app;
