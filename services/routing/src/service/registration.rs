//! Routing newly registered cases: a consumer lane's run of registrations is
//! decided case after case in memory and written a statement a table.

use fengqiao_platform::consumer::HandlerError;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::outbox;
use fengqiao_proto::fengqiao::common::v1::Dispute;
use fengqiao_proto::fengqiao::events::v1::CaseRegistered;
use fengqiao_proto::fengqiao::routing::v1::{Mediator, Referral};
use prost::Message;
use sqlx::{Any, Transaction};

use super::{new_referral, request_event, returned_event, RoutingService};
use crate::clocks::{self, Kind as ClockKind};
use crate::decide::{self, Ask};
use crate::directory;
use crate::mediators;
use crate::rules::{CaseFacts, RuleSet};
use crate::store::{self, RoutedCase};
use crate::supervision::facts::{self, Registration};

impl RoutingService {
    /// Takes on newly registered cases (each with its event's time), in order:
    /// each is recorded, its clocks started and referred to the lowest level
    /// covering its place (or returned to its sender). A case routed before —
    /// a redelivery, or a copy earlier in `events` — is left as it is. Every
    /// decision sees the referrals made before it, those of `events` included;
    /// each table's rows are written in one statement.
    pub async fn on_cases_registered(
        &self,
        tx: &mut Transaction<'static, Any>,
        events: &[(CaseRegistered, i64)],
    ) -> Result<(), HandlerError> {
        let now = now_micros();
        let disputes: Vec<Dispute> = events.iter().map(|(ev, _)| ev.dispute.clone().unwrap_or_default()).collect();
        let cases: Vec<RoutedCase> = events.iter().zip(&disputes).map(|((ev, _), d)| routed_case(ev, d)).collect();
        let new = store::insert_cases(tx, &cases, now).await?;
        let places: Vec<&str> =
            cases.iter().zip(&new).filter(|(_, new)| **new).map(|(c, _)| c.division_code.as_str()).collect();
        let mut orgs = if places.is_empty() { Vec::new() } else { directory::covering_any(tx, &places).await? };
        let rules = self.rules.current();
        let (mut started, mut announced) = (Vec::new(), Vec::new());
        // Each new case's referral and its organisation's level, by the case's place in `events`.
        let mut referred: Vec<Option<(Referral, i32)>> = vec![None; events.len()];
        for (i, ((ev, _), (case, dispute))) in events.iter().zip(cases.iter().zip(&disputes)).enumerate() {
            if !new[i] {
                continue; // routed before
            }
            let facts = CaseFacts::new(dispute.source, dispute.category, ev.risk_level, dispute.headcount);
            let clocks = self.clocks_of(case, dispute, &facts, now)?;
            announced.extend(clocks.iter().map(clocks::NewClock::announcement));
            started.extend(clocks);
            match self.decide_new(tx, &rules, &orgs, &facts, case, dispute).await? {
                Ok((referral, level)) => {
                    announced.push(request_event(case, &referral, dispute));
                    // The next decision counts this referral in the organisation's load.
                    if let Some(chosen) = orgs.iter_mut().find(|o| o.org_id == referral.org_id) {
                        chosen.open += 1;
                    }
                    referred[i] = Some((referral, level));
                }
                Err(reason) => {
                    store::mark_returned(tx, &case.case_id, &reason).await?;
                    announced.push(returned_event(case, &reason));
                }
            }
        }
        clocks::insert(tx, &started, now).await?;
        let rows: Vec<_> = referred.iter().flatten().map(|(r, level)| (r, *level)).collect();
        store::insert_referrals(tx, &rows, now).await?;
        let figures: Vec<Registration> = events
            .iter()
            .zip(&referred)
            .map(|((event, at), referred)| Registration {
                event,
                at: *at,
                org: referred.as_ref().map(|(r, level)| (r.org_id.as_str(), *level)),
            })
            .collect();
        facts::registered_all(tx, &figures).await?;
        outbox::append_all(tx, &announced).await?;
        Ok(())
    }

    /// The clocks a new case starts: the risk response's, and the sending agency's own.
    fn clocks_of(
        &self,
        case: &RoutedCase,
        dispute: &Dispute,
        facts: &CaseFacts,
        now: i64,
    ) -> Result<Vec<clocks::NewClock>, HandlerError> {
        let division = &case.division_code;
        let mut kinds =
            vec![(ClockKind::RiskResponse, self.regimes.period(ClockKind::RiskResponse, &facts.risk, division))];
        if let Some(kind) = crate::case_clocks::agency_clock(dispute) {
            kinds.push((kind, self.regimes.period(kind, "", division)));
        }
        Ok(clocks::plan(&case.case_id, &kinds, self.regimes.timing(), now)?)
    }

    /// Where a new case goes among `orgs` (those covering the run's places,
    /// with their loads so far): a referral, not yet written, and its
    /// organisation's level; or why no organisation can take it.
    async fn decide_new(
        &self,
        tx: &mut Transaction<'static, Any>,
        rules: &RuleSet,
        orgs: &[directory::Org],
        facts: &CaseFacts,
        case: &RoutedCase,
        dispute: &Dispute,
    ) -> Result<Result<(Referral, i32), String>, HandlerError> {
        let division = &case.division_code;
        let covering: Vec<directory::Org> = orgs.iter().filter(|o| o.covers(division)).cloned().collect();
        // The applicant's choice of mediator stands for a choice of their organisation.
        let (preferred_org, mediator, mediator_note) = self.preferred(tx, dispute).await?;
        let refused = fengqiao_domain::org::refused_kinds(dispute);
        let ask = Ask {
            facts,
            source_agency: &case.source_agency,
            refused_kinds: &refused,
            preferred_org_id: &preferred_org,
        };
        let decision = decide::decide(rules, &covering, &ask);
        let Some(org) = decision.org else {
            return Ok(Err(format!(
                "no mediation organisation can take division {division}: {}",
                decision.explanation
            )));
        };
        let honoured = mediator.as_ref().filter(|m| m.org_id == org.org_id);
        let mut explanation = decision.explanation;
        if let Some(m) = honoured {
            explanation = format!("the applicant's choice of mediator {} ({}); {explanation}", m.name, m.mediator_id);
        } else if let Some(note) = mediator_note {
            explanation = format!("{explanation}; {note}");
        }
        let referral = new_referral(case, &org, explanation, honoured.map_or("", |m| m.mediator_id.as_str()));
        Ok(Ok((referral, org.level)))
    }

    /// The organisation to prefer, the chosen mediator if they take cases,
    /// and why a chosen mediator was not honoured.
    async fn preferred(
        &self,
        tx: &mut Transaction<'static, Any>,
        dispute: &Dispute,
    ) -> Result<(String, Option<Mediator>, Option<String>), HandlerError> {
        let id = dispute.preferred_mediator_id.trim();
        if id.is_empty() {
            return Ok((dispute.preferred_org_id.clone(), None, None));
        }
        Ok(match mediators::find(tx, id).await? {
            Some(m) if m.available => (m.org_id.clone(), Some(m), None),
            Some(m) => (
                dispute.preferred_org_id.clone(),
                None,
                Some(format!("the applicant's choice of mediator {} is not taking new cases", m.mediator_id)),
            ),
            None => (
                dispute.preferred_org_id.clone(),
                None,
                Some(format!("the applicant's choice of mediator {id} is not in the directory")),
            ),
        })
    }
}

/// What routing keeps of a registered case.
fn routed_case(ev: &CaseRegistered, dispute: &Dispute) -> RoutedCase {
    RoutedCase {
        case_id: ev.case_id.clone(),
        case_no: ev.case_no.clone(),
        source_agency: ev.source_agency.clone(),
        division_code: dispute.location.as_ref().map(|l| l.division_code.clone()).unwrap_or_default(),
        risk_level: ev.risk_level,
        dispute: dispute.encode_to_vec(),
    }
}

#[cfg(test)]
mod tests;
