-- The clocks of each case (DESIGN.md §3.4). Instants are microseconds (UTC).
-- `fired` makes a breach happen once, whatever the number of replicas.
CREATE TABLE clocks (
    clock_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    period TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    state INTEGER NOT NULL,
    paused_at BIGINT,
    ended_at BIGINT,
    fired INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX clocks_case ON clocks (case_id, started_at);
CREATE INDEX clocks_due ON clocks (state, due_at);
