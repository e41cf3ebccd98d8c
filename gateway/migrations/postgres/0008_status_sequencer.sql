-- Status changes are written unnumbered, in the projection's transaction,
-- and numbered afterwards by the sequencer, which numbers only rows already
-- committed: a cursor still never skips a late commit, and writers no longer
-- queue on status_seq (now the sequencer's own counter). `written` is the
-- order rows were inserted in.
ALTER TABLE status_log DROP CONSTRAINT status_log_pkey;
ALTER TABLE status_log ADD COLUMN written BIGSERIAL PRIMARY KEY;
ALTER TABLE status_log ALTER COLUMN seq DROP NOT NULL;
CREATE UNIQUE INDEX status_log_seq ON status_log (seq);
CREATE INDEX status_log_unnumbered ON status_log (written) WHERE seq IS NULL;
