-- One row per concluded mediation, with the agreement's performance.
-- Times are microseconds since the epoch (UTC); enums are fengqiao.*.v1 numbers.
-- `agreement` holds the encoded fengqiao.mediation.v1.AgreementTerms;
-- routes_told is comma-separated OtherRoute numbers.
CREATE TABLE conclusions (
    referral_id TEXT PRIMARY KEY,
    outcome INTEGER NOT NULL,
    agreement BYTEA,
    routes_told TEXT NOT NULL,
    refusing_party INTEGER NOT NULL,
    template_id TEXT NOT NULL,
    document TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    performance_deadline TEXT NOT NULL,
    performance_state INTEGER NOT NULL,
    performed_at BIGINT,
    performance_note TEXT NOT NULL,
    performance_recorded_at BIGINT,
    concluded_at BIGINT NOT NULL
);
CREATE INDEX conclusions_performed ON conclusions (performed_at);
