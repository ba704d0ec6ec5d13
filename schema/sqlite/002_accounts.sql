-- Accounts, tenancy, friends, token revocation and app settings (contract §1, §6).

ALTER TABLE apps ADD COLUMN require_friendship INTEGER NOT NULL DEFAULT 0;
ALTER TABLE apps ADD COLUMN spam_unanswered_limit INTEGER NOT NULL DEFAULT 5;
ALTER TABLE apps ADD COLUMN send_rate_per_sec REAL NOT NULL DEFAULT 0;   -- 0 = unlimited
ALTER TABLE apps ADD COLUMN send_burst INTEGER NOT NULL DEFAULT 40;
CREATE INDEX IF NOT EXISTS apps_by_org ON apps (org_id);

-- people who run apps
CREATE TABLE IF NOT EXISTS console_users (
    user_id        TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,      -- argon2id PHC string
    nick           TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS orgs (
    org_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    owner       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS org_members (
    org_id   TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS org_members_by_user ON org_members (user_id);

-- server-wide keys (e.g. the console token key), created once
CREATE TABLE IF NOT EXISTS server_keys (
    name  TEXT PRIMARY KEY,
    key   BLOB NOT NULL
);

-- end-user accounts of apps without their own user system; the session is the user name
CREATE TABLE IF NOT EXISTS accounts (
    app_id         TEXT NOT NULL,
    user_name      TEXT NOT NULL,
    password_hash  TEXT NOT NULL,      -- argon2id PHC string
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (app_id, user_name)
) WITHOUT ROWID;

-- revoked tokens (kind 'token': key = jti) and sessions (kind 'session': key = session, every
-- token issued before not_before); kept until expires_at
CREATE TABLE IF NOT EXISTS revocations (
    app_id      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    key         TEXT NOT NULL,
    not_before  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (app_id, kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS revocations_by_time ON revocations (created_at);

CREATE TABLE IF NOT EXISTS friend_requests (
    app_id       TEXT NOT NULL,
    from_session TEXT NOT NULL,
    to_session   TEXT NOT NULL,
    information  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (app_id, from_session, to_session)
) WITHOUT ROWID;

-- one row per direction
CREATE TABLE IF NOT EXISTS friends (
    app_id   TEXT NOT NULL,
    session  TEXT NOT NULL,
    friend   TEXT NOT NULL,
    since    INTEGER NOT NULL,
    PRIMARY KEY (app_id, session, friend)
) WITHOUT ROWID;
