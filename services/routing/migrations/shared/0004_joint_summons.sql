-- Joint summons (吹哨报到): assistance requests to departments and their answers.
CREATE TABLE assistance_requests (
    assistance_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    department TEXT NOT NULL,
    request TEXT NOT NULL,
    requested_by_org TEXT NOT NULL,
    requested_by_person TEXT NOT NULL,
    requested_at BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    response TEXT NOT NULL DEFAULT '',
    responded_at BIGINT
);
CREATE INDEX assistance_requests_case ON assistance_requests (case_id, requested_at);
CREATE INDEX assistance_requests_period ON assistance_requests (requested_at, department);
