-- Foundation: identity, workspaces and the tenant tables, with row-level
-- security on every table that carries workspace_id (T-02).
--
-- Run as the schema owner. The owner needs CREATEROLE the first time, to
-- create the application role; the role's LOGIN password is set by whoever
-- provisions the database (the local stack, or the CDK custom resource).

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'framebroker_app') THEN
    CREATE ROLE framebroker_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
  END IF;
END $$;

GRANT USAGE ON SCHEMA public TO framebroker_app;

-- app_workspace_id is the workspace the current transaction is scoped to, or
-- NULL when none is: every policy compares against it, and NULL matches no row.
CREATE FUNCTION app_workspace_id() RETURNS uuid
LANGUAGE sql STABLE AS $$
  SELECT NULLIF(current_setting('app.workspace_id', true), '')::uuid
$$;

-- Identity (global, not tenant rows).
CREATE TABLE users (
  id              uuid PRIMARY KEY,
  email           text NOT NULL,
  email_canonical text NOT NULL UNIQUE,
  password_hash   text,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
  id          uuid PRIMARY KEY,
  user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash  bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  revoked_at  timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id);

GRANT SELECT, INSERT, UPDATE ON users, sessions TO framebroker_app;

-- Tenancy.
CREATE TABLE workspaces (
  id         uuid PRIMARY KEY,
  name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  created_by uuid NOT NULL REFERENCES users(id),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE members (
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role         text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX members_user ON members (user_id);

CREATE TABLE projects (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description  text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (id, workspace_id)
);
CREATE INDEX projects_ws ON projects (workspace_id, id);

CREATE TABLE shots (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  project_id   uuid NOT NULL,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  description  text NOT NULL DEFAULT '' CHECK (length(description) <= 4000),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (id, workspace_id),
  -- A shot's project is always in the shot's own workspace.
  FOREIGN KEY (project_id, workspace_id) REFERENCES projects (id, workspace_id) ON DELETE CASCADE
);
CREATE INDEX shots_project ON shots (workspace_id, project_id, id);

CREATE TABLE releases (
  id           uuid PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  status       text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  UNIQUE (id, workspace_id)
);
CREATE INDEX releases_ws ON releases (workspace_id, id);

CREATE TABLE release_shots (
  workspace_id uuid NOT NULL,
  release_id   uuid NOT NULL,
  shot_id      uuid NOT NULL,
  position     int  NOT NULL,
  PRIMARY KEY (release_id, shot_id),
  FOREIGN KEY (release_id, workspace_id) REFERENCES releases (id, workspace_id) ON DELETE CASCADE,
  FOREIGN KEY (shot_id, workspace_id) REFERENCES shots (id, workspace_id) ON DELETE RESTRICT
);

CREATE TABLE assets (
  id            uuid PRIMARY KEY,
  workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
  filename      text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
  content_type  text NOT NULL,
  declared_size bigint NOT NULL CHECK (declared_size > 0),
  object_key    text NOT NULL UNIQUE,
  status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'complete')),
  sha256        bytea CHECK (sha256 IS NULL OR length(sha256) = 32),
  size          bigint,
  probe         jsonb,
  created_by    uuid REFERENCES users(id) ON DELETE SET NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  completed_at  timestamptz,
  UNIQUE (id, workspace_id)
);
CREATE INDEX assets_ws ON assets (workspace_id, id);

-- Row-level security: every tenant table admits only the rows of the
-- workspace the transaction is scoped to. workspaces is keyed on id.
ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON workspaces USING (id = app_workspace_id()) WITH CHECK (id = app_workspace_id());

DO $$
DECLARE t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['members', 'projects', 'shots', 'releases', 'release_shots', 'assets'] LOOP
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY tenant ON %I USING (workspace_id = app_workspace_id()) WITH CHECK (workspace_id = app_workspace_id())', t);
  END LOOP;
END $$;

GRANT SELECT, INSERT, UPDATE, DELETE ON workspaces, members, projects, shots, releases, release_shots, assets TO framebroker_app;

-- user_workspaces lists the workspaces a user belongs to. It is the one read
-- that must cross workspaces, so it runs as the owner (SECURITY DEFINER) and
-- takes the user id as its only input.
CREATE FUNCTION user_workspaces(p_user uuid)
RETURNS TABLE (id uuid, name text, role text, created_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
  SELECT w.id, w.name, m.role, w.created_at
  FROM members m JOIN workspaces w ON w.id = m.workspace_id
  WHERE m.user_id = p_user
  ORDER BY w.id
$$;
REVOKE ALL ON FUNCTION user_workspaces(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION user_workspaces(uuid) TO framebroker_app;
