-- Money, continued (issue 8): spend ceilings changed through the settings
-- route take effect on the open windows; credits-only workspaces cannot
-- reserve past their credit balance; old spend windows are rolled away.

-- spend_reserve (replacing 0400's) reserves p_amount for job p_job against
-- the hour, day and month windows containing p_at (NULL: the database
-- clock). p_ceilings (day, hour, month order) are the plan's defaults; the
-- workspace's own ceilings in billing_accounts override them and are read
-- after the window rows are locked, so a ceiling changed by a committed
-- transaction is always the one enforced (a window's stored ceiling is
-- brought to it, never below spent + reserved). Window rows are locked in
-- one order, so concurrent reservations serialise per workspace and never
-- deadlock. Either all three windows admit spent + reserved + amount <=
-- ceiling and all are charged, or none is: refused_window names the
-- refusing window that resets last and resets_at when.
--
-- With p_credits_only (a workspace without a verified card), the credit
-- balance must also cover every open reservation plus p_amount; the check
-- runs under a per-workspace transaction lock, so concurrent reservations
-- cannot together spend past the balance. Refused, refused_window is
-- 'credits' (resets_at NULL). alerts lists the windows that crossed 80 % or
-- 100 % with this reservation (once each).
DROP FUNCTION spend_reserve(uuid, uuid, bigint, bigint[], timestamptz);
CREATE FUNCTION spend_reserve(p_ws uuid, p_job uuid, p_amount bigint, p_ceilings bigint[], p_at timestamptz, p_credits_only boolean,
                              OUT ok boolean, OUT refused_window text, OUT resets_at timestamptz, OUT alerts text[])
LANGUAGE plpgsql AS $$
DECLARE
  t      timestamptz := coalesce(p_at, clock_timestamp());
  kinds  text[] := ARRAY['day', 'hour', 'month'];
  starts timestamptz[];
  ceils  bigint[];
  w      record;
  lvl    int;
  bal    bigint;
  open_  bigint;
BEGIN
  starts := ARRAY[date_trunc('day', t, 'UTC'), date_trunc('hour', t, 'UTC'), date_trunc('month', t, 'UTC')];
  INSERT INTO spend_windows (workspace_id, kind, starts_at, ends_at, ceiling)
  SELECT p_ws, k, s, ((s AT TIME ZONE 'UTC') + ('1 ' || k)::interval) AT TIME ZONE 'UTC', c
  FROM unnest(kinds, starts, p_ceilings) AS u(k, s, c) ORDER BY k
  ON CONFLICT DO NOTHING;
  PERFORM 1 FROM spend_windows
   WHERE workspace_id = p_ws AND (kind, starts_at) IN (SELECT * FROM unnest(kinds, starts))
   ORDER BY kind FOR UPDATE;
  -- The ceilings in force, read after the locks (a new snapshot).
  SELECT ARRAY[coalesce(b.daily_ceiling, p_ceilings[1]), coalesce(b.hourly_ceiling, p_ceilings[2]), coalesce(b.monthly_ceiling, p_ceilings[3])]
    INTO ceils
    FROM (SELECT 1) one LEFT JOIN billing_accounts b ON b.workspace_id = p_ws;
  UPDATE spend_windows sw SET ceiling = greatest(u.c, sw.spent + sw.reserved)
    FROM unnest(kinds, starts, ceils) AS u(k, s, c)
   WHERE sw.workspace_id = p_ws AND sw.kind = u.k AND sw.starts_at = u.s
     AND sw.ceiling <> greatest(u.c, sw.spent + sw.reserved);
  ok := true;
  alerts := '{}';
  FOR w IN SELECT kind, ends_at, ceiling, spent, reserved FROM spend_windows
           WHERE workspace_id = p_ws AND (kind, starts_at) IN (SELECT * FROM unnest(kinds, starts))
           ORDER BY kind
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
  IF p_credits_only THEN
    PERFORM pg_advisory_xact_lock(hashtextextended('framebroker.credits:' || p_ws::text, 0));
    SELECT coalesce(sum(amount_micros), 0) INTO bal FROM credit_ledger WHERE workspace_id = p_ws;
    SELECT coalesce(sum(amount), 0) INTO open_ FROM spend_reservations WHERE workspace_id = p_ws AND status = 'reserved';
    IF bal < open_ + p_amount THEN
      ok := false;
      refused_window := 'credits';
      RETURN;
    END IF;
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
GRANT EXECUTE ON FUNCTION spend_reserve(uuid, uuid, bigint, bigint[], timestamptz, boolean) TO framebroker_app;

-- Open reservations per workspace (the credit check sums them).
CREATE INDEX spend_reservations_open ON spend_reservations (workspace_id) WHERE status = 'reserved';

-- spend_windows_roll deletes, across every workspace, the spend windows
-- whose month (the monthly window they belong to) ended more than 31 days
-- ago and that no open reservation was taken in, and returns how many it
-- deleted. It runs as the owner (the retention cron has no workspace
-- scope and the app role cannot DELETE windows); it takes no argument, so
-- the app role cannot make it delete anything younger.
CREATE FUNCTION spend_windows_roll() RETURNS bigint
LANGUAGE sql SECURITY DEFINER SET search_path = public AS $$
  WITH gone AS (
    DELETE FROM spend_windows sw
     WHERE ((date_trunc('month', sw.starts_at, 'UTC') AT TIME ZONE 'UTC') + interval '1 month' + interval '31 days') AT TIME ZONE 'UTC' < now()
       AND NOT EXISTS (
         SELECT 1 FROM spend_reservations r
          WHERE r.workspace_id = sw.workspace_id AND r.status = 'reserved'
            AND CASE sw.kind WHEN 'hour' THEN r.hour_start WHEN 'day' THEN r.day_start ELSE r.month_start END = sw.starts_at)
    RETURNING 1)
  SELECT count(*) FROM gone
$$;
REVOKE ALL ON FUNCTION spend_windows_roll() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION spend_windows_roll() TO framebroker_app;
