-- jsonb cannot hold the character U+0000, which JSON allows ("\u0000"). A payload that
-- holds it is kept as text in payload_text, exactly as received, and payload is JSON null.
ALTER TABLE events ADD COLUMN payload_text TEXT;
