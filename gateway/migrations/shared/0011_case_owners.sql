-- Who submitted each case through the gateway, the case as the submit call
-- knew it, and the verification code its parties quote. Written once, by the
-- submit call only: a batch of new owners waits on no other writer, whereas
-- case_status is the status projection's, which locks its rows while it
-- applies a lane's events (docs/performance.md, twenty-seventh round).
CREATE TABLE case_owners (
    case_id TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL,
    case_no TEXT NOT NULL,          -- empty where the registration had not numbered it yet
    external_ref TEXT NOT NULL,
    verification_code TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Every case recorded so far keeps its owner and its code (a resubmission
-- finds them here); case_status.verification_code is read no more.
INSERT INTO case_owners (case_id, agency_id, case_no, external_ref, verification_code, created_at)
SELECT case_id, agency_id, case_no, external_ref, verification_code, updated_at FROM case_status;
