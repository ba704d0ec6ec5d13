-- Hardening (issue 10): end-user accounts become an app setting, off by default for every app;
-- the revocation feed is read by a store-assigned sequence instead of a gateway's clock.

-- `/user/register` and `/user/login` answer 403 / 10003 unless this is 1
ALTER TABLE apps ADD COLUMN end_user_accounts INTEGER NOT NULL DEFAULT 0;

-- the position of each revocation in the feed gateways poll (`seq > cursor`): MAX(seq) + 1 on
-- every write, inside the write (SQLite serializes writers, so positions follow commit order,
-- whatever the clocks of the processes that wrote them)
ALTER TABLE revocations ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE revocations SET seq = numbered.n
FROM (SELECT app_id, kind, key, ROW_NUMBER() OVER (ORDER BY created_at) AS n FROM revocations) AS numbered
WHERE revocations.app_id = numbered.app_id AND revocations.kind = numbered.kind AND revocations.key = numbered.key;
CREATE INDEX IF NOT EXISTS revocations_by_seq ON revocations (seq);
