-- Consented extensions of clocks (who consented, why, by how much).
CREATE TABLE clock_extensions (
    clock_id TEXT NOT NULL,
    period TEXT NOT NULL,
    consented_by TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor_org TEXT NOT NULL,
    actor_person TEXT NOT NULL,
    extended_at BIGINT NOT NULL
);
CREATE INDEX clock_extensions_clock ON clock_extensions (clock_id, extended_at);
