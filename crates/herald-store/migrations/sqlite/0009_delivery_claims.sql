-- How many times a delivery was leased since its last recorded attempt. More than one
-- means a process died (or stopped) mid-attempt: what it sent may have arrived, and an action
-- that cannot be repeated safely (a Slack root post) looks before sending again.
ALTER TABLE deliveries ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;
