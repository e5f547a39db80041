-- Transactional mail outbox: a message is written in the transaction that
-- decides it (so none exists for rolled-back work) and delivered after
-- commit by the mail-outbox cron (and right after its commit when the
-- writer asks), with retries. Bodies (which may hold one-time links) are
-- erased once sent or given up.
CREATE TABLE mail_outbox (
  id              uuid PRIMARY KEY,
  recipients      text[] NOT NULL CHECK (cardinality(recipients) BETWEEN 1 AND 50),
  subject         text NOT NULL,
  body_text       text NOT NULL,
  body_html       text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT now(),
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  attempts        int NOT NULL DEFAULT 0,
  sent_at         timestamptz,
  gave_up_at      timestamptz,
  last_error      text
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND gave_up_at IS NULL;
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_outbox TO framebroker_app;
