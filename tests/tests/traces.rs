//! One trace follows a dispute across the hand-off: the agency's call at the
//! gateway, intake, routing, mediation, and the status change flowing back to
//! the gateway over NATS — exported over OTLP to a receiver this test runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::any_value::Value;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A received span: (service, span name, hex trace id).
type Received = Arc<Mutex<Vec<(String, String, String)>>>;

/// An OTLP/gRPC trace receiver that keeps what it is sent.
#[derive(Clone, Default)]
struct Receiver(Received);

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut kept = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| match a.value.as_ref()?.value.as_ref()? {
                    Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            for span in resource_spans.scope_spans.into_iter().flat_map(|s| s.spans) {
                kept.push((service.clone(), span.name, hex::encode(&span.trace_id)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_spans_gateway_intake_routing_mediation_and_the_way_back() {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = format!("http://{}", listener.local_addr().unwrap());
    let server = tonic::transport::Server::builder()
        .add_service(TraceServiceServer::new(receiver.clone()))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
    tokio::spawn(server);

    let system = System::start_with(
        Mode::Distributed,
        &[("FENGQIAO_TELEMETRY__OTLP_ENDPOINT", otlp.as_str()), ("OTEL_BSP_SCHEDULE_DELAY", "200")],
    )
    .await
    .unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    let submitted = police
        .submit_carrying(dispute(Source::Police, "JQ620802-2026-0900"), &[("traceparent", CALLER)])
        .await
        .unwrap();
    let case_id = submitted.status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;

    // Each service's spans in the caller's trace, as they arrive.
    let wanted = ["fengqiao-gateway", "fengqiao-intake", "fengqiao-routing", "fengqiao-mediation"];
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_trace = loop {
        let mut by_service: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (service, name, trace) in receiver.0.lock().unwrap().iter() {
            if trace == TRACE_ID {
                by_service.entry(service.clone()).or_default().insert(name.clone());
            }
        }
        // The way back: the gateway applies an event that carries the trace.
        let back = by_service.get("fengqiao-gateway").is_some_and(|names| names.contains("event"));
        if wanted.iter().all(|s| by_service.contains_key(*s)) && back {
            break by_service;
        }
        assert!(Instant::now() < deadline, "spans in trace {TRACE_ID} after 30 s: {by_service:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for service in wanted {
        assert!(in_trace[service].contains("rpc") || in_trace[service].contains("event"), "{service}: {in_trace:?}");
    }
    system.finish().await;
}
