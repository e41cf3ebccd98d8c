-- A review (复查) or second review (复核) names the case it reviews; the level is
-- fengqiao.petition.v1.ReviewLevel.
ALTER TABLE petitions ADD COLUMN review_of_case_id TEXT NOT NULL DEFAULT '';
ALTER TABLE petitions ADD COLUMN review_level INTEGER NOT NULL DEFAULT 0;
