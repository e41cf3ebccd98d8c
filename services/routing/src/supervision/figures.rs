//! The county's figures for a month or quarter, per unit, ranked net of
//! re-flow and refiling (docs/supervision.md), and their CSV form.

use std::collections::BTreeMap;

use fengqiao_domain::csv;
pub use fengqiao_domain::report_period::ReportPeriod;
use fengqiao_proto::fengqiao::common::v1::MediationOutcome;
use fengqiao_proto::fengqiao::supervision::v1::{Dimension, UnitFigures};
use sqlx::AnyConnection;

/// An assistance request: department, due, answered, and its case's township and organisation.
type SummonsRow = (String, i64, Option<i64>, Option<String>, Option<String>);

type FactRow = (String, String, String, i32, i64, Option<i64>, i32, i32, i32, Option<i64>);

fn ratio(n: u32, d: u32) -> f64 {
    if d == 0 {
        0.0
    } else {
        f64::from(n) / f64::from(d)
    }
}

fn finish(mut u: UnitFigures) -> UnitFigures {
    u.success_rate = ratio(u.agreements, u.concluded);
    u.resolution_rate = ratio(u.agreements, u.registered);
    u.period_resolution_rate = ratio(u.resolved_within_period, u.registered);
    u.timeliness = ratio(u.concluded_on_time, u.concluded);
    u.village_share = ratio(u.resolved_at_village, u.agreements);
    u.township_share = ratio(u.resolved_at_township, u.agreements);
    u.summons_response_rate = ratio(u.summons_answered_on_time, u.summons_requested);
    u.net_resolution_rate =
        ratio(u.agreements.saturating_sub(u.reflowed), u.registered.saturating_sub(u.refiled)).min(1.0);
    u
}

/// The figures of `period` per unit of `dimension`, best rank first, and the county's total.
pub async fn compute(
    conn: &mut AnyConnection,
    period: ReportPeriod,
    dimension: Dimension,
) -> Result<(Vec<UnitFigures>, UnitFigures), sqlx::Error> {
    let facts: Vec<FactRow> = sqlx::query_as(
        "SELECT township, source_agency, org_id, org_level, registered_at, concluded_at, outcome, on_time, refiled,
                reflowed_at FROM case_figures
         WHERE (registered_at >= $1 AND registered_at < $2) OR (concluded_at >= $1 AND concluded_at < $2)
            OR (reflowed_at >= $1 AND reflowed_at < $2)",
    )
    .bind(period.start)
    .bind(period.end)
    .fetch_all(&mut *conn)
    .await?;
    let mut units: BTreeMap<String, UnitFigures> = BTreeMap::new();
    let mut total = UnitFigures { unit_id: "total".into(), unit_name: "total".into(), ..Default::default() };
    for (township, agency, org, level, registered_at, concluded_at, outcome, on_time, refiled, reflowed_at) in facts {
        let unit = match dimension {
            Dimension::Township => township,
            Dimension::Department => agency,
            _ => org,
        };
        let u = units.entry(unit.clone()).or_insert_with(|| UnitFigures { unit_id: unit, ..Default::default() });
        for f in [&mut *u, &mut total] {
            let registered = period.holds(Some(registered_at));
            let concluded = period.holds(concluded_at);
            let agreement = concluded && outcome == MediationOutcome::Agreement as i32;
            f.registered += u32::from(registered);
            f.refiled += u32::from(registered && refiled == 1);
            f.concluded += u32::from(concluded);
            f.agreements += u32::from(agreement);
            f.resolved_within_period += u32::from(registered && agreement);
            f.concluded_on_time += u32::from(concluded && on_time == 1);
            f.resolved_at_village += u32::from(agreement && level == 1);
            f.resolved_at_township += u32::from(agreement && level == 2);
            f.reflowed += u32::from(period.holds(reflowed_at));
        }
    }
    let summons: Vec<SummonsRow> = sqlx::query_as(
        "SELECT a.department, a.due_at, a.responded_at, f.township, f.org_id
         FROM assistance_requests a LEFT JOIN case_figures f ON f.case_id = a.case_id
         WHERE a.requested_at >= $1 AND a.requested_at < $2",
    )
    .bind(period.start)
    .bind(period.end)
    .fetch_all(&mut *conn)
    .await?;
    for (department, due_at, responded_at, township, org) in summons {
        let unit = match dimension {
            Dimension::Township => township.unwrap_or_default(),
            Dimension::Department => department,
            _ => org.unwrap_or_default(),
        };
        let u = units.entry(unit.clone()).or_insert_with(|| UnitFigures { unit_id: unit, ..Default::default() });
        let on_time = responded_at.is_some_and(|r| r <= due_at);
        for f in [&mut *u, &mut total] {
            f.summons_requested += 1;
            f.summons_answered_on_time += u32::from(on_time);
        }
    }
    let mut rows: Vec<UnitFigures> = units.into_values().map(finish).collect();
    rank(&mut rows);
    name(conn, dimension, &mut rows).await?;
    Ok((rows, finish(total)))
}

/// Ranks units that registered anything by net resolution rate (ties share
/// a rank, then more registered first), best first; the rest follow unranked.
fn rank(rows: &mut [UnitFigures]) {
    rows.sort_by(|a, b| {
        (b.registered > 0)
            .cmp(&(a.registered > 0))
            .then(b.net_resolution_rate.total_cmp(&a.net_resolution_rate))
            .then(b.registered.cmp(&a.registered))
            .then(a.unit_id.cmp(&b.unit_id))
    });
    let mut previous: Option<(f64, u32)> = None;
    for (i, row) in rows.iter_mut().enumerate().take_while(|(_, r)| r.registered > 0) {
        let rank = match previous {
            Some((rate, rank)) if rate == row.net_resolution_rate => rank,
            _ => i as u32 + 1,
        };
        row.rank = rank;
        previous = Some((row.net_resolution_rate, rank));
    }
}

async fn name(conn: &mut AnyConnection, dimension: Dimension, rows: &mut [UnitFigures]) -> Result<(), sqlx::Error> {
    for row in rows {
        row.unit_name = match dimension {
            Dimension::Township => fengqiao_regions::divisions().name(&row.unit_id).map(str::to_string),
            Dimension::Organisation => {
                sqlx::query_scalar("SELECT name FROM organisations WHERE org_id = $1")
                    .bind(&row.unit_id)
                    .fetch_optional(&mut *conn)
                    .await?
            }
            _ => None,
        }
        .unwrap_or_else(|| row.unit_id.clone());
    }
    Ok(())
}

fn percent(r: f64) -> String {
    format!("{:.1}", r * 100.0)
}

/// The figures as CSV: a header, one row per unit, then the total.
pub fn to_csv(rows: &[UnitFigures], total: &UnitFigures) -> String {
    let mut out = String::from(
        "rank,unit_id,unit_name,registered,concluded,agreements,success_rate_pct,resolution_rate_pct,\
         resolved_within_period,period_resolution_rate_pct,concluded_on_time,timeliness_pct,resolved_at_village,\
         village_share_pct,resolved_at_township,township_share_pct,reflowed,refiled,net_resolution_rate_pct,\
         summons_requested,summons_answered_on_time,summons_response_rate_pct\n",
    );
    for u in rows.iter().chain(std::iter::once(total)) {
        let rank = if u.rank == 0 { String::new() } else { u.rank.to_string() };
        let fields = [
            rank,
            csv::field(&u.unit_id),
            csv::field(&u.unit_name),
            u.registered.to_string(),
            u.concluded.to_string(),
            u.agreements.to_string(),
            percent(u.success_rate),
            percent(u.resolution_rate),
            u.resolved_within_period.to_string(),
            percent(u.period_resolution_rate),
            u.concluded_on_time.to_string(),
            percent(u.timeliness),
            u.resolved_at_village.to_string(),
            percent(u.village_share),
            u.resolved_at_township.to_string(),
            percent(u.township_share),
            u.reflowed.to_string(),
            u.refiled.to_string(),
            percent(u.net_resolution_rate),
            u.summons_requested.to_string(),
            u.summons_answered_on_time.to_string(),
            percent(u.summons_response_rate),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_quarters_are_local_calendar_periods() {
        let oct = ReportPeriod::parse("2026-10").unwrap();
        // 2026-10-01 00:00 +08:00 = 2026-09-30 16:00 UTC.
        assert_eq!(oct.start, 1_790_784_000_000_000);
        assert_eq!(oct.end, ReportPeriod::parse("2026-11").unwrap().start);
        let q4 = ReportPeriod::parse("2026-Q4").unwrap();
        assert_eq!(q4.start, oct.start);
        assert_eq!(q4.end, ReportPeriod::parse("2027-01").unwrap().start);
        for bad in ["2026", "2026-13", "2026-Q5", "26-10", "2026-1", ""] {
            assert!(ReportPeriod::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ties_share_a_rank_and_empty_units_are_unranked() {
        let unit = |id: &str, registered, agreements| {
            finish(UnitFigures {
                unit_id: id.into(),
                registered,
                agreements,
                concluded: agreements,
                ..Default::default()
            })
        };
        let mut rows = vec![unit("a", 4, 2), unit("b", 2, 1), unit("c", 5, 5), unit("d", 0, 0)];
        rank(&mut rows);
        let ranks: Vec<_> = rows.iter().map(|r| (r.unit_id.as_str(), r.rank)).collect();
        assert_eq!(ranks, [("c", 1), ("a", 2), ("b", 2), ("d", 0)]);
    }
}
