//! What mediation asks other components, now: an organisation's mediators
//! (routing's directory) and the parties in full (intake, which records the
//! access). A trait, so one component's unit tests can answer for them.

use async_trait::async_trait;
use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_proto::fengqiao::common::v1::{Actor, Party};
use fengqiao_proto::fengqiao::intake::v1::intake_service_client::IntakeServiceClient;
use fengqiao_proto::fengqiao::intake::v1::RevealPartiesRequest;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::{ListMediatorsRequest, Mediator};
use tonic::Status;

/// The answers mediation needs from intake and routing.
#[async_trait]
pub trait Peers: Send + Sync {
    /// The mediators of `org_id`.
    async fn mediators(&self, org_id: &str) -> Result<Vec<Mediator>, Status>;
    /// The parties of `case_id` in full, for `requester`, recorded with `purpose`.
    async fn parties(&self, case_id: &str, requester: &Actor, purpose: String) -> Result<Vec<Party>, Status>;
}

/// The peers over gRPC.
#[derive(Clone)]
pub struct GrpcPeers {
    /// Intake.
    pub intake: IntakeServiceClient<TracedChannel>,
    /// Routing.
    pub routing: RoutingServiceClient<TracedChannel>,
}

#[async_trait]
impl Peers for GrpcPeers {
    async fn mediators(&self, org_id: &str) -> Result<Vec<Mediator>, Status> {
        let request = ListMediatorsRequest { org_id: org_id.to_string() };
        Ok(self.routing.clone().list_mediators(request).await?.into_inner().mediators)
    }

    async fn parties(&self, case_id: &str, requester: &Actor, purpose: String) -> Result<Vec<Party>, Status> {
        let request =
            RevealPartiesRequest { case_id: case_id.to_string(), requester: Some(requester.clone()), purpose };
        Ok(self.intake.clone().reveal_parties(request).await?.into_inner().parties)
    }
}
