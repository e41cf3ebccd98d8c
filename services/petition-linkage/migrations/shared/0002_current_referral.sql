-- The referral the record follows: moves of an earlier referral (one
-- cancelled by a re-route, say) arriving late must not overwrite it.
ALTER TABLE petitions ADD COLUMN referral_id TEXT NOT NULL DEFAULT '';
