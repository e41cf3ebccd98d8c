-- An operator's request to re-drive a parked event (`fengqiao dlq replay`);
-- the owning consumer picks it up, and sets `replayed_at` once it succeeds.
ALTER TABLE fq_dead_letter ADD COLUMN replay_requested_at BIGINT;
CREATE INDEX fq_dead_letter_replay ON fq_dead_letter (consumer, replay_requested_at);
