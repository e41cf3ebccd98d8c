-- Why each case has its risk level, and the links between cases (never merges).
ALTER TABLE cases ADD COLUMN risk_explanation TEXT NOT NULL DEFAULT '';

CREATE TABLE case_links (
    case_id TEXT NOT NULL,
    related_case_id TEXT NOT NULL,
    kind INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, related_case_id)
);
CREATE INDEX case_links_related ON case_links (related_case_id);
CREATE INDEX cases_registered ON cases (registered_at);
