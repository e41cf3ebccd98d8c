//! The console as an agency at the gateway: the county's mediation centre
//! (kind `centre`), with its token. Registrations and progress look-ups go
//! through the gateway like any agency's, with its authorisation, limits,
//! audit log and the look-up's throttle against guessing.

use fengqiao_platform::grpc_trace::TracedChannel;
use fengqiao_proto::fengqiao::gateway::v1::agency_service_client::AgencyServiceClient;
use secrecy::{ExposeSecret, SecretString};

/// The gateway, called as the centre.
#[derive(Clone)]
pub struct Centre {
    client: AgencyServiceClient<TracedChannel>,
    token: SecretString,
}

impl Centre {
    /// The centre's client over `channel` with `token`.
    pub fn new(channel: TracedChannel, token: SecretString) -> Self {
        Self { client: AgencyServiceClient::new(channel), token }
    }

    /// Whether a token is configured.
    pub fn is_configured(&self) -> bool {
        !self.token.expose_secret().is_empty()
    }

    /// A request carrying the centre's token (and `idempotency_key`, if any).
    pub fn request<T>(&self, message: T, idempotency_key: Option<&str>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.token.expose_secret()).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        if let Some(key) = idempotency_key.and_then(|k| k.parse().ok()) {
            request.metadata_mut().insert("idempotency-key", key);
        }
        request
    }

    /// The client.
    pub fn client(&self) -> AgencyServiceClient<TracedChannel> {
        self.client.clone()
    }
}
