//! An organisation's and its mediators' work figures for a month or quarter:
//! open load, concluded, agreement rate, time to conclusion, satisfaction.

use std::collections::BTreeMap;

use fengqiao_domain::report_period::ReportPeriod;
use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::mediation::v1::WorkFigures;

use crate::access::WORKING;
use crate::{MediationError, MediationService};

const DAY: f64 = 86_400_000_000.0;

#[derive(Default)]
struct Tally {
    figures: WorkFigures,
    days: f64,
    satisfaction: u32,
}

impl Tally {
    fn finish(mut self) -> WorkFigures {
        let f = &mut self.figures;
        if f.concluded > 0 {
            f.agreement_rate = f64::from(f.agreements) / f64::from(f.concluded);
            f.average_days_to_conclusion = self.days / f64::from(f.concluded);
        }
        if f.visits > 0 {
            f.average_satisfaction = f64::from(self.satisfaction) / f64::from(f.visits);
        }
        self.figures
    }
}

impl MediationService {
    /// The figures of `org_id` for `period` (`2026-10` or `2026-Q4`): the
    /// organisation's, then each lead mediator's.
    pub async fn statistics(
        &self,
        org_id: &str,
        period: &str,
    ) -> Result<(WorkFigures, Vec<WorkFigures>), MediationError> {
        if org_id.trim().is_empty() {
            return Err(MediationError::invalid("org_id", "is required"));
        }
        let p = ReportPeriod::parse(period).map_err(|e| MediationError::invalid("period", e))?;
        let mut conn = self.db.pool().acquire().await?;
        let referrals: Vec<(String, i32, i64, Option<i64>, i32)> = sqlx::query_as(
            "SELECT lead_mediator_id, state, received_at, concluded_at, outcome FROM referrals WHERE org_id = $1",
        )
        .bind(org_id)
        .fetch_all(&mut *conn)
        .await?;
        let visits: Vec<(String, i32)> = sqlx::query_as(
            "SELECT r.lead_mediator_id, v.satisfaction FROM return_visits v JOIN referrals r ON r.referral_id = v.referral_id
             WHERE r.org_id = $1 AND v.visited_at >= $2 AND v.visited_at < $3",
        )
        .bind(org_id)
        .bind(p.start)
        .bind(p.end)
        .fetch_all(&mut *conn)
        .await?;
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        let mut count = |mediator: &str, add: &dyn Fn(&mut Tally)| {
            add(tallies.entry(String::new()).or_default());
            if !mediator.is_empty() {
                add(tallies.entry(mediator.to_string()).or_default());
            }
        };
        let working: Vec<i32> = WORKING.iter().map(|s| *s as i32).collect();
        for (mediator, state, received, concluded, outcome) in &referrals {
            if working.contains(state) {
                count(mediator, &|t| t.figures.open += 1);
            }
            if let Some(at) = concluded.filter(|at| p.holds(Some(*at))) {
                let agreement = u32::from(*outcome == MediationOutcome::Agreement as i32);
                let days = (at - received) as f64 / DAY;
                count(mediator, &|t| {
                    t.figures.concluded += 1;
                    t.figures.agreements += agreement;
                    t.days += days;
                });
            }
        }
        for (mediator, satisfaction) in &visits {
            count(mediator, &|t| {
                t.figures.visits += 1;
                t.satisfaction += *satisfaction as u32;
            });
        }
        let organisation = tallies.remove("").unwrap_or_default().finish();
        let mediators = tallies
            .into_iter()
            .map(|(id, t)| {
                let mut f = t.finish();
                f.mediator_id = id;
                f.org_id = org_id.to_string();
                f
            })
            .collect();
        Ok((WorkFigures { org_id: org_id.to_string(), ..organisation }, mediators))
    }
}
