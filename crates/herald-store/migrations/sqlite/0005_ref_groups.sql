-- Ref groups: refs written under a group name (e.g. the messages of one incident) can be
-- listed together, newest first. Refs written before have no group.

ALTER TABLE refs ADD COLUMN ref_group TEXT;

CREATE INDEX refs_kind_group_updated_idx ON refs (kind, ref_group, updated_at);
