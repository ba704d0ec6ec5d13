-- Most members of one conversation, per app (issue 10: conversations without limits).

ALTER TABLE apps ADD COLUMN max_members INTEGER NOT NULL DEFAULT 10000;
