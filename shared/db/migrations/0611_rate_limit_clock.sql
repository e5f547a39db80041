-- rate_limit_take_all gains p_now, the instant the limits are evaluated at.
-- NULL (what production passes) keeps the database clock, clock_timestamp(),
-- exactly as before. Tests pass a fixed instant so the GCRA arithmetic
-- (requests remaining, Retry-After) does not depend on how fast a loaded
-- machine answers. Same body as 0400 otherwise.
DROP FUNCTION rate_limit_take_all(text[], bigint[], bigint[]);
CREATE FUNCTION rate_limit_take_all(p_keys text[], p_intervals bigint[], p_tolerances bigint[], p_now timestamptz,
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
  t := coalesce(p_now, clock_timestamp());
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

GRANT EXECUTE ON FUNCTION rate_limit_take_all(text[], bigint[], bigint[], timestamptz) TO framebroker_app;
