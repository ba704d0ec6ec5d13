-- The trace a webhook job belongs to (issue 15: spans continue the message's trace): the W3C
-- traceparent of the span that queued it; null when it was not traced.

ALTER TABLE webhook_jobs ADD COLUMN trace TEXT;
