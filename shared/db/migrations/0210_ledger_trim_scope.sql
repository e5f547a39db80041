-- ledger_trim runs as the owner (SECURITY DEFINER), so it must check the
-- tenant itself: the caller's transaction has to be scoped to the workspace
-- whose ledger it trims (as job_events_trim does). Without this the app role
-- could trim another workspace's history.
CREATE OR REPLACE FUNCTION ledger_trim(p_ws uuid, p_through bigint) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE n bigint;
BEGIN
  IF p_ws IS DISTINCT FROM app_workspace_id() THEN
    RAISE EXCEPTION 'ledger_trim: the transaction is not scoped to workspace %', p_ws USING ERRCODE = 'insufficient_privilege';
  END IF;
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
