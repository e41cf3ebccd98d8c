-- Who was shown a case's personal data in full, when and why (PIPL).
CREATE TABLE personal_data_access (
    case_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    purpose TEXT NOT NULL,
    accessed_at BIGINT NOT NULL
);
CREATE INDEX personal_data_access_case ON personal_data_access (case_id, accessed_at);
