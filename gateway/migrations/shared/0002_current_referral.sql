-- The referral a case's status follows: moves of an earlier referral (one
-- cancelled by a re-route, say) arriving late must not overwrite it.
ALTER TABLE case_status ADD COLUMN referral_id TEXT NOT NULL DEFAULT '';
