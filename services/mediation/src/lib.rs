//! Mediation: an organisation's work on the referrals it receives — the
//! inbox, acceptance or rejection, mediators and joint mediation, sessions, the
//! outcome and its agreement, performance, return visits, the case file, the
//! per-case subsidy and the work figures. It owns the receiving side of every
//! referral: a revoke racing an accept is decided here, in one transaction.

mod access;
mod aftercare;
mod agreement;
mod assign;
mod case_file;
mod conclude;
mod confirmation;
mod error;
mod grpc;
mod peers;
mod service;
mod sessions;
mod statement;
mod stats;
mod store;
mod work;

use std::sync::Arc;

use async_trait::async_trait;
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::component::{Api, Component};
use fengqiao_platform::consumer::{handle_each, run_span, runs_of_kind, Arrival, Consumer, EventHandler, HandlerError};
use fengqiao_platform::migrate::Migration;
use fengqiao_platform::{migration, ComponentRuntime, Database};
use fengqiao_proto::fengqiao::events::v1::{ClockScheduled, ReferralRequested};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_server::MediationServiceServer;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};
use tracing::Instrument;

pub use error::MediationError;
pub use peers::{GrpcPeers, Peers};
pub use service::{InboxPage, MediationService, Now, Step};
pub use statement::to_csv as statement_csv;
pub use store::InboxFilter;

/// The mediation component.
pub struct Mediation;

#[async_trait]
impl Component for Mediation {
    const NAME: &'static str = "mediation";
    const MIGRATIONS: &'static [Migration] = &[
        migration!("mediation", 1, "0001_referrals.sql", "referrals' receiving side"),
        migration!("mediation", 2, shared "0002_mediator.sql", "the mediator a referral names"),
        migration!("mediation", 3, shared "0003_casework.sql", "mediators, joint mediation, sessions, visits, case files"),
        migration!("mediation", 4, "0004_conclusions.sql", "conclusions with their agreement and performance"),
        migration!("mediation", 5, shared "0005_confirmation.sql", "judicial confirmation of agreements"),
    ];

    async fn assemble(runtime: &ComponentRuntime) -> anyhow::Result<Api> {
        let peers = GrpcPeers {
            intake: IntakeServiceClient::new(runtime.settings.channel_to("intake")?),
            routing: RoutingServiceClient::new(runtime.settings.channel_to("routing")?),
        };
        let subsidy = runtime.settings.subsidy.clone();
        let window = fengqiao_domain::period::Period::parse(&runtime.settings.clocks.confirmation_application)
            .map_err(|e| anyhow::anyhow!("configuration key `clocks.confirmation_application`: {e}"))?;
        let service = Arc::new(
            MediationService::new(runtime.db.clone(), runtime.outbox(), Arc::new(peers), subsidy)
                .with_confirmation_window(window),
        );
        runtime
            .consume(Consumer::new(
                "mediation-referrals",
                &[
                    EventKind::ReferralRequested,
                    EventKind::ClockScheduled,
                    EventKind::ConfirmationAccepted,
                    EventKind::ConfirmationDecided,
                ],
                Arc::new(ReceiveReferrals(service.clone())),
            ))
            .await?;
        Ok(Api {
            routes: tonic::service::Routes::new(MediationServiceServer::new(grpc::MediationGrpc::new(service))),
            services: vec!["fengqiao.mediation.v1.MediationService"],
            front: None,
        })
    }
}

/// The mediation clocks whose deadline the inbox shows and filters by.
const MEDIATION_CLOCKS: [&str; 6] = [
    "PEOPLES_MEDIATION",
    "PRE_LITIGATION",
    "IN_LITIGATION",
    "IN_LITIGATION_SIMPLIFIED",
    "PETITION_HANDLING",
    "PETITION_REVIEW_ANSWER",
];

/// Puts each requested referral in its organisation's inbox, and keeps the
/// deadline of the mediation clock routing runs for it.
struct ReceiveReferrals(Arc<MediationService>);

#[async_trait]
impl EventHandler for ReceiveReferrals {
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError> {
        if matches!(event.kind(), Some(EventKind::ConfirmationAccepted | EventKind::ConfirmationDecided)) {
            return confirmation::follow(tx, event).await;
        }
        if event.kind() == Some(EventKind::ClockScheduled) {
            let scheduled: ClockScheduled = event.decode()?;
            if let (true, Some(due)) = (is_mediation_clock(&scheduled), &scheduled.due_at) {
                store::set_clock_due(tx, &scheduled.case_id, fengqiao_platform::db::micros_of(due)).await?;
            }
            return Ok(());
        }
        let requested: ReferralRequested = event.decode()?;
        self.0.receive(tx, &requested).await?;
        Ok(())
    }

    /// Each run of requested referrals in two statements (their rows, their
    /// announcements); any other event alone. A run gathers the requests of
    /// the batch's other cases (`runs_of_kind`), so the clocks scheduled
    /// between them do not cut it into runs of one.
    async fn handle_all(&self, tx: &mut Transaction<'static, Any>, events: &[Arrival<'_>]) -> Result<(), HandlerError> {
        for run in &runs_of_kind(events) {
            if run[0].event.kind() != Some(EventKind::ReferralRequested) {
                handle_each(self, tx, run).await?;
                continue;
            }
            let requested: Result<Vec<ReferralRequested>, _> = run.iter().map(|a| a.event.decode()).collect();
            self.0.receive_all(tx, &requested?).instrument(run_span(run)).await?;
        }
        Ok(())
    }

    /// Every event but the clocks that are not mediation's (each referral
    /// starts two, the risk response and the agency's, which change nothing
    /// here): those are acknowledged without a transaction or an inbox row.
    async fn concerned(&self, _db: &Database, events: &[&Envelope]) -> Result<Vec<bool>, HandlerError> {
        events.iter().map(|event| concerns_mediation(event)).collect()
    }
}

/// Whether `event` can change anything in mediation: false only for a clock
/// that is not a mediation clock.
fn concerns_mediation(event: &Envelope) -> Result<bool, HandlerError> {
    if event.kind() != Some(EventKind::ClockScheduled) {
        return Ok(true);
    }
    Ok(is_mediation_clock(&event.decode()?))
}

fn is_mediation_clock(scheduled: &ClockScheduled) -> bool {
    MEDIATION_CLOCKS.contains(&scheduled.kind.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock(kind: &str) -> Envelope {
        let scheduled = ClockScheduled { case_id: "case-1".into(), kind: kind.into(), ..Default::default() };
        Envelope::new("routing", EventKind::ClockScheduled, &scheduled)
    }

    #[test]
    fn clocks_that_are_not_mediation_clocks_do_not_concern_mediation() {
        for kind in MEDIATION_CLOCKS {
            assert!(concerns_mediation(&clock(kind)).unwrap(), "{kind} sets the inbox's deadline");
        }
        for kind in ["RISK_RESPONSE", "POLICE_FEEDBACK", ""] {
            assert!(!concerns_mediation(&clock(kind)).unwrap(), "{kind} changes nothing in mediation");
        }
        let requested = ReferralRequested { case_id: "case-1".into(), ..Default::default() };
        assert!(concerns_mediation(&Envelope::new("routing", EventKind::ReferralRequested, &requested)).unwrap());
    }
}
