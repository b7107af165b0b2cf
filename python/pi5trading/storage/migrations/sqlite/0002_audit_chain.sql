-- The audit log as a hash chain: each row carries its place (seq), the hash of the row
-- before it and its own hash over its content, so an edited or deleted row is detected
-- (`pi5trading audit verify`). Rows written before this migration have no link.
ALTER TABLE audit_log ADD COLUMN seq INTEGER;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE INDEX audit_log_seq_idx ON audit_log (seq);
