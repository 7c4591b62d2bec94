-- Attempts name their delivery's action, so health reads each action's latest attempts
-- from an index instead of ranking every attempt ever made.

ALTER TABLE attempts ADD COLUMN action text;

UPDATE attempts a SET action = d.action FROM deliveries d WHERE d.id = a.delivery_id;

CREATE INDEX attempts_action_latest_idx ON attempts (action, outcome, started_at, delivery_id, number);
