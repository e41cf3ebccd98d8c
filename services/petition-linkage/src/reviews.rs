//! Review (复查) and second review (复核): a dissatisfied petitioner asks, within
//! `clocks.petition_review_request` (30 days) of a reply, for the matter to be
//! looked at again; the request is a new matter linked to the reviewed one, and
//! routing answers it on `PETITION_REVIEW_ANSWER` (30 days).

use fengqiao_domain::calendar::Calendar;
use fengqiao_domain::period::{instant, last_day, local_date, Period};
use fengqiao_platform::db::micros_of;
use fengqiao_platform::status::{self, Violation};
use fengqiao_proto::fengqiao::petition::v1::{Petition, ReviewLevel};
use tonic::Status;

/// Checks that `earlier` may be reviewed at `level` at `now`: it is the bureau's,
/// of the level below, replied, and the request is within `window` of the reply.
pub fn check(earlier: Option<&Petition>, level: ReviewLevel, window: Period, now: i64) -> Result<(), Status> {
    let earlier = earlier.ok_or_else(|| {
        status::invalid_argument(&[Violation::new(
            "review_of_case_id",
            "is no matter of your bureau; name the case reviewed",
        )])
    })?;
    let below = match level {
        ReviewLevel::Review => ReviewLevel::Unspecified,
        ReviewLevel::SecondReview => ReviewLevel::Review,
        ReviewLevel::Unspecified => {
            return Err(status::invalid_argument(&[Violation::new("review_level", "is REVIEW or SECOND_REVIEW")]))
        }
    };
    if earlier.review_level != below as i32 {
        return Err(status::invalid_argument(&[Violation::new(
            "review_level",
            "a review (复查) reviews an original matter; a second review (复核) reviews a review",
        )]));
    }
    let replied = earlier.concluded_at.as_ref().map(micros_of).ok_or_else(|| {
        Status::failed_precondition("the matter reviewed has no reply yet; a review follows the reply")
    })?;
    let closes = last_day(instant(replied), window, &Calendar::national());
    if local_date(now) > closes {
        return Err(Status::failed_precondition(format!(
            "a review must be requested within 30 days of the reply; that closed on {closes}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fengqiao_platform::db::timestamp;
    use time::OffsetDateTime;

    fn replied(at: OffsetDateTime, level: ReviewLevel) -> Petition {
        let micros = (at.unix_timestamp_nanos() / 1_000) as i64;
        Petition { concluded_at: Some(timestamp(micros)), review_level: level as i32, ..Default::default() }
    }

    fn micros(t: OffsetDateTime) -> i64 {
        (t.unix_timestamp_nanos() / 1_000) as i64
    }

    #[test]
    fn a_review_is_requested_within_its_window_at_the_next_level() {
        let reply = replied(time::macros::datetime!(2026-09-05 10:00 +8), ReviewLevel::Unspecified);
        let window = Period::Days(30);
        // The thirtieth day, 5 October, falls in the National Day break: the window closes on 8 October.
        let on_the_8th = micros(time::macros::datetime!(2026-10-08 20:00 +8));
        assert!(check(Some(&reply), ReviewLevel::Review, window, on_the_8th).is_ok());
        let on_the_9th = micros(time::macros::datetime!(2026-10-09 08:00 +8));
        let late = check(Some(&reply), ReviewLevel::Review, window, on_the_9th).unwrap_err();
        assert_eq!(late.code(), tonic::Code::FailedPrecondition);
        assert!(late.message().contains("2026-10-08"), "{}", late.message());
        let wrong = check(Some(&reply), ReviewLevel::SecondReview, window, on_the_8th).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::InvalidArgument);
        let review = replied(time::macros::datetime!(2026-09-05 10:00 +8), ReviewLevel::Review);
        assert!(check(Some(&review), ReviewLevel::SecondReview, window, on_the_8th).is_ok());
        let unreplied = Petition::default();
        let early = check(Some(&unreplied), ReviewLevel::Review, window, on_the_8th).unwrap_err();
        assert_eq!(early.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            check(None, ReviewLevel::Review, window, on_the_8th).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
    }
}
