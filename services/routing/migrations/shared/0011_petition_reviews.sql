-- Cases that answer a petitioner's review (复查) or second review (复核) request:
-- their mediation runs on PETITION_REVIEW_ANSWER instead of PETITION_HANDLING.
CREATE TABLE petition_reviews (
    case_id TEXT PRIMARY KEY,
    review_of_case_id TEXT NOT NULL,
    level TEXT NOT NULL
);
