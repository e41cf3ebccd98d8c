-- The key verification codes are made from (HMAC-SHA256 of the case id),
-- written by the first gateway to start and read by every replica: each gives
-- a case the same code. A new case's owner row is written in its submit call's
-- audit commit, so a resubmission racing that call may write the row first;
-- with the same code, the first call's answer still holds
-- (docs/performance.md, thirty-second round). Stored codes are what look-ups
-- check: changing this key changes no case's code.
CREATE TABLE code_key (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL
);
