-- 0002: chats. A chat belongs to its owner (only the owner sees it) and is bound to at most
-- one workspace: the workspace, the build the tools last acted on and the agent they run
-- commands on. The chat loop adds its messages and worker leases in a migration of its own.

CREATE TABLE chats (
    id           TEXT PRIMARY KEY,
    owner_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'waiting'
                 CHECK (status IN ('waiting', 'pending', 'running', 'error')),
    -- The binding: all NULL when unbound. A workspace is only ever soft-deleted, so its row
    -- outlives the chat's interest in it; builds and agents go with their workspace.
    workspace_id TEXT REFERENCES workspaces (id) ON DELETE SET NULL,
    build_id     TEXT REFERENCES workspace_builds (id) ON DELETE SET NULL,
    agent_id     TEXT REFERENCES workspace_agents (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) STRICT;
-- The owner's chats, most recently updated first.
CREATE INDEX chats_owner_updated ON chats (owner_id, updated_at DESC, id DESC);
-- Chats bound to a workspace (and the foreign key's ON DELETE action).
CREATE INDEX chats_workspace ON chats (workspace_id) WHERE workspace_id IS NOT NULL;
