-- Idempotency keys by hash (issue 13; services/store/src/sqlite/idempotency.rs). The unique index
-- on (app, conversation, sender, key) wrote a B-tree leaf of its own for nearly every message
-- (clients' keys are random); keys now go to an append-only table and are merged into a sorted
-- one in hash ranges. h = xxHash3-64 of the four fields, each preceded by its length (u32 LE).
-- On a large database this migration hashes and sorts every stored message once, holding the
-- write lock meanwhile (minutes for hundreds of millions of messages): run `herald migrate`
-- before starting the servers.

-- every key merged so far: one row per message
CREATE TABLE IF NOT EXISTS idempotency (
    h      INTEGER NOT NULL,
    msg_id INTEGER NOT NULL,
    PRIMARY KEY (h, msg_id)
) WITHOUT ROWID;

-- keys appended since, in commit order (readers follow the tail by id; the newest row is never
-- deleted, so ids are never handed out again)
CREATE TABLE IF NOT EXISTS idempotency_recent (
    id     INTEGER PRIMARY KEY,
    h      INTEGER NOT NULL,
    msg_id INTEGER NOT NULL
);

-- the merge in progress: recent rows through `through` (0: none running) move range by range,
-- `chunk` is the next range; rows through `pruned` are merged and deleted
CREATE TABLE IF NOT EXISTS idempotency_merge (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    through INTEGER NOT NULL,
    chunk   INTEGER NOT NULL,
    pruned  INTEGER NOT NULL
);
INSERT OR IGNORE INTO idempotency_merge (id, through, chunk, pruned) VALUES (1, 0, 0, 0);

-- the messages stored before this migration, sorted into the merged table
INSERT INTO idempotency (h, msg_id)
    SELECT herald_idempotency_hash(app_id, conv_id, sender, idempotency_key), msg_id FROM messages ORDER BY 1, 2;

-- How many messages each session has sent in each conversation (the anti-spam rule of 1:1
-- conversations reads it; it counted the dropped index's entries). Kept in the sender's read
-- cursor row, which every send updates anyway, so counting costs no page of its own.
ALTER TABLE read_cursors ADD COLUMN sent INTEGER NOT NULL DEFAULT 0;
INSERT INTO read_cursors (app_id, conv_id, session, seq, sent)
    SELECT app_id, conv_id, sender, 0, COUNT(*) FROM messages WHERE true GROUP BY app_id, conv_id, sender
    ON CONFLICT (app_id, conv_id, session) DO UPDATE SET sent = excluded.sent;

DROP INDEX IF EXISTS messages_by_idempotency;
