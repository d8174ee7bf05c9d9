-- 0003: the chat loop. A chat's conversation (messages whose parts are JSON), the messages its
-- owner sent while a turn ran (queued until the turn ends), the lease of the worker running a
-- turn, the last turn's error, and the workspace context (AGENTS.md) the model is given.

-- The error that ended the last turn (status 'error'); NULL otherwise.
ALTER TABLE chats ADD COLUMN last_error TEXT;
-- The worker running the turn (status 'running'): "<replica id>:<process nonce>".
ALTER TABLE chats ADD COLUMN worker_id TEXT;
-- Until when the worker's claim holds; its heartbeats extend it. A turn whose lease expired is
-- claimed again by any worker.
ALTER TABLE chats ADD COLUMN lease_expires_at INTEGER;
-- How many times the current turn was claimed (more than once: it was resumed after its worker
-- died).
ALTER TABLE chats ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
-- Set by an interrupt of a running turn; cleared when a turn is claimed.
ALTER TABLE chats ADD COLUMN interrupt_requested_at INTEGER;
-- The workspace context given to the model (rendered AGENTS.md files); NULL when none is known.
ALTER TABLE chats ADD COLUMN context TEXT;
-- Turns to claim: pending ones, and running ones whose worker may have died.
CREATE INDEX chats_claim ON chats (status, updated_at) WHERE status IN ('pending', 'running');

-- The conversation. ids are monotone over all chats (the cursor of the chat's event stream).
-- parts: a JSON array of {type: "text"|"reasoning"|"tool-call"|"tool-result", ...}.
CREATE TABLE chat_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id    TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    parts      TEXT NOT NULL CHECK (json_valid(parts)),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX chat_messages_chat ON chat_messages (chat_id, id);

-- User messages sent while a turn was running: they join the conversation, in order, when the
-- turn ends (and start the next one).
CREATE TABLE chat_queued_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id    TEXT NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
    parts      TEXT NOT NULL CHECK (json_valid(parts)),
    created_at INTEGER NOT NULL
) STRICT;
CREATE INDEX chat_queued_messages_chat ON chat_queued_messages (chat_id, id);
