-- Herald embedded store, SQLite. Numbered and append-only: never edit a file once released.

CREATE TABLE IF NOT EXISTS apps (
    app_id       TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL,
    name         TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,      -- SHA-256 of the app secret (secrets are 256-bit random)
    signing_key  BLOB NOT NULL,      -- HS256 key for this app's client tokens
    created_at   INTEGER NOT NULL,
    login_policy TEXT NOT NULL DEFAULT 'multi'   -- 'multi' | 'kick'
);
CREATE UNIQUE INDEX IF NOT EXISTS apps_by_secret ON apps (secret_hash);

CREATE TABLE IF NOT EXISTS conversations (
    app_id      TEXT NOT NULL,
    conv_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,       -- 'group' | 'single'
    conv_type   INTEGER NOT NULL,    -- the app's own tag
    name        TEXT NOT NULL,
    avatar      TEXT NOT NULL,
    owner       TEXT NOT NULL,
    open        INTEGER NOT NULL,
    archived    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, conv_id)
);

-- the one conversation of each pair of sessions (kind 'single'); session_a < session_b
CREATE TABLE IF NOT EXISTS single_pairs (
    app_id     TEXT NOT NULL,
    session_a  TEXT NOT NULL,
    session_b  TEXT NOT NULL,
    conv_id    TEXT NOT NULL,
    PRIMARY KEY (app_id, session_a, session_b)
);

CREATE TABLE IF NOT EXISTS members (
    app_id     TEXT NOT NULL,
    conv_id    TEXT NOT NULL,
    session    TEXT NOT NULL,
    joined_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, conv_id, session)
);
CREATE INDEX IF NOT EXISTS members_by_session ON members (app_id, session);

CREATE TABLE IF NOT EXISTS messages (
    app_id          TEXT NOT NULL,
    conv_id         TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    msg_id          INTEGER NOT NULL,
    sender          TEXT NOT NULL,
    send_time       INTEGER NOT NULL,
    status          INTEGER NOT NULL,
    msg_type        INTEGER NOT NULL,
    content         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    client_msg_id   TEXT,
    PRIMARY KEY (app_id, conv_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_idempotency ON messages (app_id, conv_id, sender, idempotency_key);
CREATE INDEX IF NOT EXISTS messages_by_id ON messages (app_id, conv_id, msg_id);

-- fencing: the highest lease epoch that has claimed each partition scope
CREATE TABLE IF NOT EXISTS fences (
    scope  TEXT PRIMARY KEY,
    epoch  INTEGER NOT NULL
);

-- how far each member has read
CREATE TABLE IF NOT EXISTS read_cursors (
    app_id   TEXT NOT NULL,
    conv_id  TEXT NOT NULL,
    session  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (app_id, conv_id, session)
) WITHOUT ROWID;

-- messages a session deleted for itself (shown to it as tombstones)
CREATE TABLE IF NOT EXISTS hidden_messages (
    app_id   TEXT NOT NULL,
    session  TEXT NOT NULL,
    conv_id  TEXT NOT NULL,
    seq      INTEGER NOT NULL,
    PRIMARY KEY (app_id, session, conv_id, seq)
) WITHOUT ROWID;

-- conversations a session deleted from its list, until a message after `at_seq`
CREATE TABLE IF NOT EXISTS hidden_conversations (
    app_id   TEXT NOT NULL,
    session  TEXT NOT NULL,
    conv_id  TEXT NOT NULL,
    at_seq   INTEGER NOT NULL,
    PRIMARY KEY (app_id, session, conv_id)
) WITHOUT ROWID;
