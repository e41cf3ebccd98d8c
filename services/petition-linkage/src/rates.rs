//! A bureau's three rates for a period — timely acceptance (及时受理率),
//! handling on time (按期办结率), satisfaction (群众满意率) — and its backlog of
//! open matters by the state of their clocks.

use fengqiao_domain::report_period::ReportPeriod;
use fengqiao_platform::db::{micros_of, now_micros, timestamp};
use fengqiao_platform::status::{self, Violation};
use fengqiao_proto::fengqiao::petition::v1::{BacklogItem, BacklogState, Petition, PetitionRates};
use tonic::Status;

use crate::service::{from_row, PetitionService, COLUMNS};

fn ratio(n: u32, d: u32) -> f64 {
    if d == 0 {
        0.0
    } else {
        f64::from(n) / f64::from(d)
    }
}

fn micros(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref().map(micros_of)
}

/// The rates of `petitions` in `period`.
pub fn rates(petitions: &[Petition], period: ReportPeriod) -> PetitionRates {
    let mut r = PetitionRates::default();
    for p in petitions {
        if period.holds(micros(&p.registered_at)) {
            r.registered += 1;
            if let (Some(accepted), Some(due)) = (micros(&p.accepted_at), micros(&p.acceptance_due)) {
                r.accepted_on_time += u32::from(accepted <= due);
            }
        }
        if let Some(concluded) = micros(&p.concluded_at).filter(|t| period.holds(Some(*t))) {
            r.concluded += 1;
            r.concluded_on_time += u32::from(micros(&p.handling_due).is_some_and(|due| concluded <= due));
        }
        if period.holds(micros(&p.evaluated_at)) {
            r.evaluated += 1;
            r.satisfied += u32::from(p.satisfaction >= 4);
        }
    }
    r.timely_acceptance_rate = ratio(r.accepted_on_time, r.registered);
    r.handling_rate = ratio(r.concluded_on_time, r.concluded);
    r.satisfaction_rate = ratio(r.satisfied, r.evaluated);
    r
}

/// Where an open matter stands at `now`: which deadline, its state, the deadline.
pub fn standing(p: &Petition, now: i64) -> (&'static str, BacklogState, Option<i64>) {
    let (clock, from, due) = match micros(&p.accepted_at) {
        None => ("ACCEPTANCE", micros(&p.registered_at), micros(&p.acceptance_due)),
        Some(accepted) => ("HANDLING", Some(accepted), micros(&p.handling_due)),
    };
    let state = match (from, due) {
        (_, Some(due)) if now > due => BacklogState::Overdue,
        (Some(from), Some(due)) if (due - now) * 5 < (due - from) => BacklogState::DueSoon,
        _ => BacklogState::OnTime,
    };
    (clock, state, due)
}

impl PetitionService {
    async fn of_bureau(&self, bureau_id: &str) -> Result<Vec<Petition>, Status> {
        if bureau_id.trim().is_empty() {
            return Err(status::invalid_argument(&[Violation::new("bureau_id", "is required")]));
        }
        let sql = format!("SELECT {COLUMNS} FROM petitions WHERE bureau_id = $1 ORDER BY created_at");
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(bureau_id)
            .fetch_all(&mut *conn)
            .await
            .map_err(status::database)?;
        rows.iter().map(from_row).collect::<Result<_, _>>().map_err(status::database)
    }

    /// The bureau's three rates for a month or quarter.
    pub async fn rates(&self, bureau_id: &str, period: &str) -> Result<PetitionRates, Status> {
        let p = ReportPeriod::parse(period).map_err(|e| status::invalid_argument(&[Violation::new("period", e)]))?;
        let r = rates(&self.of_bureau(bureau_id).await?, p);
        Ok(PetitionRates { bureau_id: bureau_id.to_string(), period: period.to_string(), ..r })
    }

    /// The bureau's open matters, overdue first, then by deadline.
    pub async fn backlog(&self, bureau_id: &str) -> Result<Vec<BacklogItem>, Status> {
        let now = now_micros();
        let mut items: Vec<BacklogItem> = self
            .of_bureau(bureau_id)
            .await?
            .into_iter()
            .filter(|p| p.concluded_at.is_none())
            .map(|p| {
                let (clock, state, due) = standing(&p, now);
                BacklogItem { clock: clock.into(), state: state as i32, due_at: due.map(timestamp), petition: Some(p) }
            })
            .collect();
        items.sort_by_key(|i| (i.state != BacklogState::Overdue as i32, i.due_at.as_ref().map_or(i64::MAX, micros_of)));
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn at(micros: i64) -> Option<prost_types::Timestamp> {
        Some(timestamp(micros))
    }

    /// A matter registered on `day` of October 2026, accepted `accepted` days
    /// later (acceptance due after 15), concluded `concluded` days after
    /// acceptance (handling due after 60), rated `satisfaction` a day later.
    fn matter(day: i64, accepted: Option<i64>, concluded: Option<i64>, satisfaction: u32) -> Petition {
        let registered = ReportPeriod::parse("2026-10").unwrap().start + (day - 1) * DAY + 3_600_000_000;
        let accepted_at = accepted.map(|d| registered + d * DAY);
        let concluded_at = accepted_at.zip(concluded).map(|(a, d)| a + d * DAY);
        Petition {
            registered_at: at(registered),
            acceptance_due: at(registered + 15 * DAY),
            accepted_at: accepted_at.and_then(at),
            handling_due: accepted_at.and_then(|a| at(a + 60 * DAY)),
            concluded_at: concluded_at.and_then(at),
            satisfaction,
            evaluated_at: concluded_at.filter(|_| satisfaction > 0).and_then(|c| at(c + DAY)),
            ..Default::default()
        }
    }

    #[test]
    fn the_three_rates_of_a_hand_computed_quarter() {
        let petitions = [
            matter(1, Some(3), Some(20), 5),  // on time, on time, satisfied
            matter(2, Some(14), Some(59), 4), // on time, on time, basically satisfied
            matter(5, Some(16), Some(10), 2), // late acceptance, on time, dissatisfied
            matter(9, Some(1), Some(61), 3),  // on time, late handling, dissatisfied
            matter(20, Some(2), None, 0),     // on time, still open
            matter(28, None, None, 0),        // not accepted yet
        ];
        let q4 = ReportPeriod::parse("2026-Q4").unwrap();
        let r = rates(&petitions, q4);
        // Registered 6; accepted on time 1, 2, 4, 5 → 4/6.
        assert_eq!((r.registered, r.accepted_on_time), (6, 4));
        assert!((r.timely_acceptance_rate - 4.0 / 6.0).abs() < 1e-9);
        // Concluded in Q4: 1 (Oct 24), 2 (Dec 16), 3 (Oct 31), 4 (Dec 10) → on time 1, 2, 3 → 3/4.
        assert_eq!((r.concluded, r.concluded_on_time, r.handling_rate), (4, 3, 0.75));
        // Evaluated 4, satisfied (4 or 5) 2 → 1/2.
        assert_eq!((r.evaluated, r.satisfied, r.satisfaction_rate), (4, 2, 0.5));
        // October alone: all six registered, but only 1 and 3 concluded in it.
        let october = rates(&petitions, ReportPeriod::parse("2026-10").unwrap());
        assert_eq!((october.registered, october.concluded, october.concluded_on_time), (6, 2, 2));
    }

    #[test]
    fn the_backlog_measures_each_matter_against_its_current_deadline() {
        let p = matter(1, None, None, 0);
        let registered = micros(&p.registered_at).unwrap();
        assert_eq!(standing(&p, registered + DAY).1, BacklogState::OnTime);
        assert_eq!(standing(&p, registered + 13 * DAY).1, BacklogState::DueSoon);
        assert_eq!(
            standing(&p, registered + 16 * DAY),
            ("ACCEPTANCE", BacklogState::Overdue, micros(&p.acceptance_due))
        );
        let p = matter(1, Some(3), None, 0);
        assert_eq!(standing(&p, registered + 20 * DAY).0, "HANDLING");
    }
}
