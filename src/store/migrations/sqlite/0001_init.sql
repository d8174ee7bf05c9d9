-- 0001: berth's data model. Times are INTEGER microseconds since the Unix epoch (UTC),
-- 0 meaning "unset" where a column is NOT NULL; booleans are INTEGER 0/1; IDs are UUIDv7 text.

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    username        TEXT NOT NULL,
    hashed_password TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'suspended', 'dormant')),
    roles           INTEGER NOT NULL DEFAULT 0,   -- bit set of site roles (see model.h)
    login_type      TEXT NOT NULL DEFAULT 'password',
    deleted         INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX users_email_key ON users (lower(email)) WHERE deleted = 0;
CREATE UNIQUE INDEX users_username_key ON users (lower(username)) WHERE deleted = 0;

CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,            -- the 10-character public part
    hashed_secret    BLOB NOT NULL,               -- SHA-256 of the 22-character secret
    user_id          TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    login_type       TEXT NOT NULL CHECK (login_type IN ('password', 'token')),
    token_name       TEXT NOT NULL DEFAULT '',
    lifetime_seconds INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    last_used        INTEGER NOT NULL,
    ip               TEXT NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX api_keys_user ON api_keys (user_id);
CREATE UNIQUE INDEX api_keys_token_name_key ON api_keys (user_id, lower(token_name))
    WHERE login_type = 'token' AND token_name <> '';

CREATE TABLE files (
    id         TEXT PRIMARY KEY,                  -- hex SHA-256 of the content ("hash")
    mimetype   TEXT NOT NULL,
    data       BLOB NOT NULL,
    created_by TEXT NOT NULL REFERENCES users (id),
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE templates (
    id                               TEXT PRIMARY KEY,
    name                             TEXT NOT NULL,
    display_name                     TEXT NOT NULL DEFAULT '',
    description                      TEXT NOT NULL DEFAULT '',
    icon                             TEXT NOT NULL DEFAULT '',
    active_version_id                TEXT NOT NULL,
    require_active_version           INTEGER NOT NULL DEFAULT 0,
    deprecated                       TEXT NOT NULL DEFAULT '',   -- '' = not deprecated
    default_ttl_ms                   INTEGER NOT NULL DEFAULT 0,
    activity_bump_ms                 INTEGER NOT NULL DEFAULT 3600000,
    allow_user_cancel_workspace_jobs INTEGER NOT NULL DEFAULT 1,
    deleted                          INTEGER NOT NULL DEFAULT 0,
    created_by                       TEXT NOT NULL REFERENCES users (id),
    created_at                       INTEGER NOT NULL,
    updated_at                       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX templates_name_key ON templates (lower(name)) WHERE deleted = 0;

CREATE TABLE provisioner_jobs (
    id              TEXT PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('template_version_import', 'workspace_build')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,             -- doubles as the runner's heartbeat
    started_at      INTEGER,
    canceled_at     INTEGER,
    completed_at    INTEGER,
    error           TEXT NOT NULL DEFAULT '',
    error_code      TEXT NOT NULL DEFAULT '',
    initiator_id    TEXT NOT NULL REFERENCES users (id),
    file_id         TEXT NOT NULL REFERENCES files (id),
    input           TEXT NOT NULL DEFAULT '{}',   -- JSON
    worker_id       TEXT,
    logs_length     INTEGER NOT NULL DEFAULT 0,
    logs_overflowed INTEGER NOT NULL DEFAULT 0,
    -- The status is derived, never stored: error wins, then cancel, then progress.
    job_status      TEXT GENERATED ALWAYS AS (
        CASE
            WHEN completed_at IS NOT NULL THEN
                CASE WHEN error <> '' THEN 'failed'
                     WHEN canceled_at IS NOT NULL THEN 'canceled'
                     ELSE 'succeeded' END
            ELSE
                CASE WHEN error <> '' THEN 'failed'
                     WHEN canceled_at IS NOT NULL THEN 'canceling'
                     WHEN started_at IS NULL THEN 'pending'
                     ELSE 'running' END
        END) VIRTUAL
) STRICT;
CREATE INDEX provisioner_jobs_queue ON provisioner_jobs (created_at)
    WHERE started_at IS NULL AND completed_at IS NULL;
CREATE INDEX provisioner_jobs_worker ON provisioner_jobs (worker_id)
    WHERE completed_at IS NULL;

CREATE TABLE provisioner_job_logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT, -- global and monotone: the "after" cursor
    job_id     TEXT NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('provisioner_daemon', 'provisioner')),
    level      TEXT NOT NULL CHECK (level IN ('trace', 'debug', 'info', 'warn', 'error')),
    stage      TEXT NOT NULL DEFAULT '',
    output     TEXT NOT NULL
) STRICT;
CREATE INDEX provisioner_job_logs_job ON provisioner_job_logs (job_id, id);

CREATE TABLE template_versions (
    id                   TEXT PRIMARY KEY,
    template_id          TEXT REFERENCES templates (id),
    name                 TEXT NOT NULL,
    message              TEXT NOT NULL DEFAULT '',
    readme               TEXT NOT NULL DEFAULT '',
    file_id              TEXT NOT NULL REFERENCES files (id),
    job_id               TEXT NOT NULL UNIQUE REFERENCES provisioner_jobs (id),
    display_name         TEXT NOT NULL DEFAULT '',  -- from berth.yaml
    description          TEXT NOT NULL DEFAULT '',
    icon                 TEXT NOT NULL DEFAULT '',
    provision            TEXT NOT NULL DEFAULT '',
    provision_timeout_ms INTEGER NOT NULL DEFAULT 600000,
    archived             INTEGER NOT NULL DEFAULT 0,
    created_by           TEXT NOT NULL REFERENCES users (id),
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX template_versions_name_key ON template_versions (template_id, lower(name))
    WHERE template_id IS NOT NULL;

CREATE TABLE template_version_parameters (
    template_version_id  TEXT NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    display_name         TEXT NOT NULL DEFAULT '',
    description          TEXT NOT NULL DEFAULT '',
    type                 TEXT NOT NULL CHECK (type IN ('string', 'number', 'bool', 'list(string)')),
    mutable              INTEGER NOT NULL DEFAULT 1,
    default_value        TEXT NOT NULL DEFAULT '',
    required             INTEGER NOT NULL DEFAULT 1,
    ephemeral            INTEGER NOT NULL DEFAULT 0,
    options              TEXT NOT NULL DEFAULT '[]', -- JSON [{name, description, value, icon}]
    validation_regex     TEXT NOT NULL DEFAULT '',
    validation_error     TEXT NOT NULL DEFAULT '',
    validation_min       INTEGER,
    validation_max       INTEGER,
    validation_monotonic TEXT NOT NULL DEFAULT ''
                         CHECK (validation_monotonic IN ('', 'increasing', 'decreasing')),
    display_order        INTEGER NOT NULL,
    PRIMARY KEY (template_version_id, name)
) STRICT;

CREATE TABLE template_version_agents (
    template_version_id        TEXT NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    directory                  TEXT NOT NULL DEFAULT '',
    connection_timeout_seconds INTEGER NOT NULL DEFAULT 120,
    display_order              INTEGER NOT NULL,
    PRIMARY KEY (template_version_id, name)
) STRICT;

CREATE TABLE template_version_agent_scripts (
    template_version_id TEXT NOT NULL REFERENCES template_versions (id) ON DELETE CASCADE,
    agent_name          TEXT NOT NULL,
    name                TEXT NOT NULL,
    script              TEXT NOT NULL,
    run_on_start        INTEGER NOT NULL DEFAULT 0,
    run_on_stop         INTEGER NOT NULL DEFAULT 0,
    start_blocks_login  INTEGER NOT NULL DEFAULT 0,
    timeout_seconds     INTEGER NOT NULL DEFAULT 0,
    display_order       INTEGER NOT NULL,
    PRIMARY KEY (template_version_id, agent_name, name)
) STRICT;

CREATE TABLE workspaces (
    id                 TEXT PRIMARY KEY,
    owner_id           TEXT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    template_id        TEXT NOT NULL REFERENCES templates (id) ON DELETE RESTRICT,
    name               TEXT NOT NULL,
    deleted            INTEGER NOT NULL DEFAULT 0,
    autostart_schedule TEXT,                      -- NULL = off
    ttl_ms             INTEGER,                   -- NULL = no autostop
    last_used_at       INTEGER NOT NULL DEFAULT 0,
    dormant_at         INTEGER,
    deleting_at        INTEGER,
    automatic_updates  TEXT NOT NULL DEFAULT 'never' CHECK (automatic_updates IN ('always', 'never')),
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX workspaces_owner_name_key ON workspaces (owner_id, lower(name)) WHERE deleted = 0;
CREATE INDEX workspaces_template ON workspaces (template_id) WHERE deleted = 0;

CREATE TABLE workspace_builds (
    id                  TEXT PRIMARY KEY,
    workspace_id        TEXT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    template_version_id TEXT NOT NULL REFERENCES template_versions (id),
    build_number        INTEGER NOT NULL,
    transition          TEXT NOT NULL CHECK (transition IN ('start', 'stop', 'delete')),
    initiator_id        TEXT NOT NULL REFERENCES users (id),
    provisioner_state   BLOB NOT NULL DEFAULT x'',
    job_id              TEXT NOT NULL UNIQUE REFERENCES provisioner_jobs (id),
    deadline            INTEGER NOT NULL DEFAULT 0,
    max_deadline        INTEGER NOT NULL DEFAULT 0,
    reason              TEXT NOT NULL DEFAULT 'initiator',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (workspace_id, build_number),
    CHECK ((deadline <> 0 AND deadline <= max_deadline) OR max_deadline = 0)
) STRICT;

CREATE TABLE workspace_build_parameters (
    workspace_build_id TEXT NOT NULL REFERENCES workspace_builds (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    value              TEXT NOT NULL,
    PRIMARY KEY (workspace_build_id, name)
) STRICT;

CREATE TABLE workspace_resources (
    id         TEXT PRIMARY KEY,
    job_id     TEXT NOT NULL REFERENCES provisioner_jobs (id) ON DELETE CASCADE,
    transition TEXT NOT NULL CHECK (transition IN ('start', 'stop', 'delete')),
    type       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX workspace_resources_job ON workspace_resources (job_id);

CREATE TABLE workspace_agents (
    id                         TEXT PRIMARY KEY,
    resource_id                TEXT NOT NULL REFERENCES workspace_resources (id) ON DELETE CASCADE,
    name                       TEXT NOT NULL,
    auth_token_hash            BLOB NOT NULL UNIQUE,  -- SHA-256 of the agent token
    directory                  TEXT NOT NULL DEFAULT '',
    env                        TEXT NOT NULL DEFAULT '{}',
    first_connected_at         INTEGER,
    last_connected_at          INTEGER,
    disconnected_at            INTEGER,
    last_connected_replica_id  TEXT,
    connection_timeout_seconds INTEGER NOT NULL DEFAULT 0,
    lifecycle_state            TEXT NOT NULL DEFAULT 'created' CHECK (lifecycle_state IN (
        'created', 'starting', 'start_timeout', 'start_error', 'ready',
        'shutting_down', 'shutdown_timeout', 'shutdown_error', 'off')),
    started_at                 INTEGER,
    ready_at                   INTEGER,
    logs_length                INTEGER NOT NULL DEFAULT 0,
    logs_overflowed            INTEGER NOT NULL DEFAULT 0,
    display_order              INTEGER NOT NULL DEFAULT 0,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    UNIQUE (resource_id, name)
) STRICT;

CREATE TABLE workspace_agent_scripts (
    agent_id           TEXT NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    script             TEXT NOT NULL,
    run_on_start       INTEGER NOT NULL DEFAULT 0,
    run_on_stop        INTEGER NOT NULL DEFAULT 0,
    start_blocks_login INTEGER NOT NULL DEFAULT 0,
    timeout_seconds    INTEGER NOT NULL DEFAULT 0,
    display_order      INTEGER NOT NULL,
    PRIMARY KEY (agent_id, name)
) STRICT;

CREATE TABLE workspace_agent_logs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id   TEXT NOT NULL REFERENCES workspace_agents (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    level      TEXT NOT NULL DEFAULT 'info',
    source     TEXT NOT NULL DEFAULT '',
    output     TEXT NOT NULL
) STRICT;
CREATE INDEX workspace_agent_logs_agent ON workspace_agent_logs (agent_id, id);
