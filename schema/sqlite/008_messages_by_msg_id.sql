-- The message-id index keyed by the id alone (issue 13). Snowflake ids rise with time, so each
-- group commit adds to the index's last pages instead of one page per conversation it touches
-- (the old key began with the app and the conversation): about a third fewer pages written per
-- append at full load. Lookups by id still name the app and the conversation; ids are unique.

DROP INDEX IF EXISTS messages_by_id;
CREATE INDEX IF NOT EXISTS messages_by_msg_id ON messages (msg_id);
