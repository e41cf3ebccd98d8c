//! The monthly subsidy statement (以案定补) of an organisation: every case
//! whose agreement was performed in the month with a complete file, with its
//! tier and amount, totalled per lead mediator; and its CSV form.

use std::collections::BTreeMap;

use fengqiao_domain::csv;
use fengqiao_domain::report_period::ReportPeriod;
use fengqiao_platform::db::{micros_of, timestamp};
use fengqiao_proto::fengqiao::mediation::v1::{PerformanceState, SubsidyLine, SubsidyStatement, SubsidyTotal};

use crate::agreement::yuan;
use crate::{store, MediationError, MediationService};

/// `month` as a period, if it is `YYYY-MM`.
fn month_period(month: &str) -> Result<ReportPeriod, MediationError> {
    let period = ReportPeriod::parse(month).ok().filter(|_| month.len() == 7 && !month.contains('Q'));
    period.ok_or_else(|| MediationError::invalid("month", format!("`{month}` is no month; write it as 2026-10")))
}

impl MediationService {
    /// The statement of `org_id` for `month` (`YYYY-MM`, local time).
    pub async fn subsidy_statement(&self, org_id: &str, month: &str) -> Result<SubsidyStatement, MediationError> {
        if org_id.trim().is_empty() {
            return Err(MediationError::invalid("org_id", "is required"));
        }
        let period = month_period(month)?;
        let mut conn = self.db.pool().acquire().await?;
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT r.referral_id FROM referrals r JOIN conclusions c ON c.referral_id = r.referral_id
             WHERE r.org_id = $1 AND c.performance_state = $2 AND c.performed_at >= $3 AND c.performed_at < $4",
        )
        .bind(org_id)
        .bind(PerformanceState::Performed as i32)
        .bind(period.start)
        .bind(period.end)
        .fetch_all(&mut *conn)
        .await?;
        let mut lines = Vec::new();
        for (id,) in ids {
            let stored = store::find(&mut conn, &id).await?.expect("joined above");
            let work = self.work_of(&mut conn, stored).await?;
            let subsidy = work.subsidy.unwrap_or_default();
            if !subsidy.eligible {
                continue;
            }
            let item = work.item.unwrap_or_default();
            lines.push(SubsidyLine {
                referral_id: item.referral_id,
                case_no: item.case_no,
                mediator_id: item.lead_mediator_id,
                tier: subsidy.tier,
                amount_fen: subsidy.amount_fen,
                performed_at: work.performance.and_then(|p| p.performed_at),
            });
        }
        lines.sort_by_key(|l| (l.performed_at.as_ref().map_or(0, micros_of), l.referral_id.clone()));
        let mut per_mediator: BTreeMap<String, SubsidyTotal> = BTreeMap::new();
        for l in &lines {
            let t = per_mediator
                .entry(l.mediator_id.clone())
                .or_insert_with(|| SubsidyTotal { mediator_id: l.mediator_id.clone(), ..Default::default() });
            t.cases += 1;
            t.amount_fen += l.amount_fen;
        }
        Ok(SubsidyStatement {
            org_id: org_id.to_string(),
            month: month.to_string(),
            cases: lines.len() as u32,
            amount_fen: lines.iter().map(|l| l.amount_fen).sum(),
            lines,
            mediators: per_mediator.into_values().collect(),
        })
    }
}

/// The statement as CSV: one line per case, then one per mediator, then the total.
pub fn to_csv(s: &SubsidyStatement) -> String {
    let mut out =
        String::from("line,org_id,month,case_no,referral_id,mediator_id,tier,performed_at,cases,amount_yuan\n");
    for l in &s.lines {
        let performed = l.performed_at.as_ref().map_or(String::new(), |t| {
            let t = timestamp(micros_of(t));
            time::OffsetDateTime::from_unix_timestamp(t.seconds)
                .map(|t| t.to_offset(fengqiao_domain::period::LOCAL).date().to_string())
                .unwrap_or_default()
        });
        out.push_str(&format!(
            "case,{},{},{},{},{},{},{},1,{}\n",
            csv::field(&s.org_id),
            s.month,
            csv::field(&l.case_no),
            l.referral_id,
            csv::field(&l.mediator_id),
            l.tier,
            performed,
            yuan(l.amount_fen)
        ));
    }
    for m in &s.mediators {
        out.push_str(&format!(
            "mediator,{},{},,,{},,,{},{}\n",
            csv::field(&s.org_id),
            s.month,
            csv::field(&m.mediator_id),
            m.cases,
            yuan(m.amount_fen)
        ));
    }
    out.push_str(&format!("total,{},{},,,,,,{},{}\n", csv::field(&s.org_id), s.month, s.cases, yuan(s.amount_fen)));
    out
}
