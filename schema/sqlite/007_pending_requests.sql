-- The requests waiting for a session's answer, by recipient (`friend-pending`, protocol §5).

CREATE INDEX IF NOT EXISTS friend_requests_to ON friend_requests (app_id, to_session, from_session);
