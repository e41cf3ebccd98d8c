-- Cases and their numbering. `dispute` holds the encoded fengqiao.common.v1.Dispute.
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    case_no TEXT NOT NULL UNIQUE,
    source_agency TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    source INTEGER NOT NULL,
    category INTEGER NOT NULL,
    division_code TEXT NOT NULL,
    risk_level INTEGER NOT NULL,
    dispute BYTEA NOT NULL,
    registered_at BIGINT NOT NULL,
    UNIQUE (source_agency, external_ref)
);

-- The last case number given per county and year; incremented inside the
-- registering transaction, so numbers have no gaps.
CREATE TABLE case_sequences (
    county_code TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_seq BIGINT NOT NULL,
    PRIMARY KEY (county_code, year)
);
