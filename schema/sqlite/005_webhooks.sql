-- Webhooks (issue 15, protocol §10): an app's endpoints, the jobs waiting for them (a durable
-- queue, ordered per lane, with its dead letters), bot sessions, and the before-send hook.

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    app_id         TEXT NOT NULL,
    endpoint_id    TEXT NOT NULL,
    url            TEXT NOT NULL,
    events         TEXT NOT NULL,    -- the event types it wants, a JSON array of strings
    secret         TEXT NOT NULL,    -- the HMAC signing secret (Herald signs with it: not a hash)
    created_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (app_id, endpoint_id)
);

-- one row per (endpoint, event): live (dead = 0) until delivered (deleted) or dead-lettered (dead = 1)
CREATE TABLE IF NOT EXISTS webhook_jobs (
    app_id         TEXT NOT NULL,
    endpoint_id    TEXT NOT NULL,
    event_id       TEXT NOT NULL,
    log_partition  INTEGER NOT NULL, -- the events-log partition of the lane: its owner sends the lane
    lane           TEXT NOT NULL,    -- jobs of a lane go out one at a time, in lane_order
    lane_order     INTEGER NOT NULL,
    body           TEXT NOT NULL,
    attempts       INTEGER NOT NULL,
    next_at_ms     INTEGER NOT NULL,
    created_at_ms  INTEGER NOT NULL,
    dead           INTEGER NOT NULL,
    last_error     TEXT NOT NULL,
    PRIMARY KEY (app_id, endpoint_id, event_id)
);
-- `due_jobs`: the live jobs of one partition in lane order, so each lane's first live job is
-- the first entry of its lane (dead letters are not in it: they no longer hold their lane)
CREATE INDEX IF NOT EXISTS webhook_jobs_lanes
    ON webhook_jobs (app_id, endpoint_id, log_partition, lane, lane_order, event_id) WHERE dead = 0;
-- `dead_jobs` and replaying all: an endpoint's dead letters, oldest first
CREATE INDEX IF NOT EXISTS webhook_jobs_dead
    ON webhook_jobs (app_id, endpoint_id, created_at_ms, event_id) WHERE dead = 1;

CREATE TABLE IF NOT EXISTS webhook_bots (
    app_id   TEXT NOT NULL,
    session  TEXT NOT NULL,
    PRIMARY KEY (app_id, session)
);

-- the moderation hook called before a message is sequenced (`before_send`): no URL, no hook
ALTER TABLE apps ADD COLUMN before_send_url TEXT;
ALTER TABLE apps ADD COLUMN before_send_timeout_ms INTEGER NOT NULL DEFAULT 2000;
ALTER TABLE apps ADD COLUMN before_send_fail_open INTEGER NOT NULL DEFAULT 0;
