//! Every process serves Prometheus metrics an operator can alert on: calls by
//! method and code with latency, consumers' work and lag, outbox backlog,
//! dead letters, clocks and alarms — scraped here from the real processes.

use std::time::{Duration, Instant};

use fengqiao_proto::fengqiao::common::v1::{ReferralState, Source};
use fengqiao_tests::scenario::*;
use fengqiao_tests::system::{Mode, System};
use fengqiao_tests::METRICS_ON;

const SUBMIT: &str = "/fengqiao.gateway.v1.AgencyService/SubmitDispute";
const GET_STATUS: &str = "/fengqiao.gateway.v1.AgencyService/GetStatus";

/// The value of `name` on the first line whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, number) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, "}"));
        let wanted = metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        wanted.then(|| number.parse().ok()).flatten()
    })
}

/// Scrapes `what` until `name{labels}` satisfies `ok` (gauges are sampled every 10 s).
async fn eventually(system: &System, what: &str, name: &str, labels: &[(&str, &str)], ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = system.scrape(what).await.unwrap();
        match value(&text, name, labels) {
            Some(v) if ok(v) => return v,
            seen if Instant::now() > deadline => panic!("{what}: {name}{labels:?} is {seen:?}:\n{text}"),
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn distributed_processes_export_calls_consumer_work_outbox_clocks_and_alarms() {
    let system = System::start_with(Mode::Distributed, &[METRICS_ON]).await.unwrap();
    let police = AgencySession::connect(&system, POLICE).await;
    // With an Idempotency-Key, as agency systems send their changes: the claim is a stage too.
    let keyed = [("idempotency-key", "metrics-0700")];
    let submitted = police.submit_carrying(dispute(Source::Police, "JQ620802-2026-0700"), &keyed).await.unwrap();
    let case_id = submitted.status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    let missing = police.status("019a0000-0000-7000-8000-000000000000").await.unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // Calls by method and code, with a latency histogram.
    let gateway = system.scrape("gateway").await.unwrap();
    assert_eq!(value(&gateway, "fengqiao_rpc_requests_total", &[("method", SUBMIT), ("code", "OK")]), Some(1.0));
    let not_found = value(&gateway, "fengqiao_rpc_requests_total", &[("method", GET_STATUS), ("code", "NOT_FOUND")]);
    assert_eq!(not_found, Some(1.0), "{gateway}");
    let count = value(&gateway, "fengqiao_rpc_duration_seconds_count", &[("method", SUBMIT)]);
    assert_eq!(count, Some(1.0), "{gateway}");
    assert!(gateway.contains("# HELP fengqiao_rpc_requests_total"), "help texts are served");
    // On PostgreSQL the gateway hears of credential changes, so it keeps what it looked up.
    let listening = value(&gateway, "fengqiao_gateway_credentials_listening", &[("component", "gateway")]);
    assert_eq!(listening, Some(1.0), "{gateway}");
    // Where the submission's time went, stage by stage, within the call's own time.
    let stages = ["authorize", "claim", "work", "audit", "hand_over"];
    for stage in stages {
        let labels = [("method", "SubmitDispute"), ("stage", stage)];
        let count = value(&gateway, "fengqiao_gateway_stage_seconds_count", &labels);
        assert_eq!(count, Some(1.0), "the submission's {stage} stage is timed once: {gateway}");
    }
    let seconds = |name, stage| value(&gateway, name, &[("method", "SubmitDispute"), ("stage", stage)]).unwrap();
    let stage = |s| seconds("fengqiao_gateway_stage_seconds_sum", s);
    let call = value(&gateway, "fengqiao_rpc_duration_seconds_sum", &[("method", SUBMIT)]).unwrap();
    let path = stage("authorize") + stage("claim") + stage("work") + stage("audit");
    assert!(path > 0.0 && path <= call, "the stages ({path} s) fall within the call ({call} s)");
    assert!(stage("hand_over") <= stage("work"), "the hand-over is a part of the work");
    // A new case's owner row is written in the audit commit: no ownership stage of its own.
    let ownership = [("method", "SubmitDispute"), ("stage", "ownership")];
    assert_eq!(value(&gateway, "fengqiao_gateway_stage_seconds_count", &ownership), None, "{gateway}");
    let read = [("method", "GetStatus"), ("stage", "claim")];
    assert_eq!(value(&gateway, "fengqiao_gateway_stage_seconds_count", &read), None, "a read claims no key");
    let writer = value(&gateway, "fengqiao_db_writer_held_seconds_count", &[]);
    assert_eq!(writer, None, "PostgreSQL has no one writer to time: {gateway}");

    // The hand-off: intake published, routing consumed it, routing's clock runs.
    let published =
        eventually(&system, "intake", "fengqiao_outbox_published_total", &[("component", "intake")], |v| v >= 1.0)
            .await;
    assert!(published >= 1.0);
    let routing = system.scrape("routing").await.unwrap();
    let applied: f64 = routing
        .lines()
        .filter(|l| l.starts_with("fengqiao_consumer_applied_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(applied >= 1.0, "routing applied the registration: {routing}");
    eventually(&system, "routing", "fengqiao_clocks", &[("component", "routing"), ("state", "running")], |v| v >= 1.0)
        .await;
    for (name, labels) in [
        ("fengqiao_consumer_pending", vec![("component", "routing")]),
        ("fengqiao_outbox_backlog", vec![("component", "routing")]),
        ("fengqiao_outbox_oldest_age_seconds", vec![("component", "routing")]),
        ("fengqiao_dead_letters", vec![("component", "routing")]),
        ("fengqiao_clocks_due", vec![("component", "routing")]),
        ("fengqiao_alarms_open", vec![("component", "routing"), ("kind", "OVERDUE")]),
        ("fengqiao_routing_load_changes_unfolded", vec![("component", "routing")]),
    ] {
        let v = eventually(&system, "routing", name, &labels, |v| v >= 0.0).await;
        assert!(v.is_finite(), "{name}");
    }
    assert_eq!(value(&routing, "fengqiao_dead_letters", &[("component", "routing")]), Some(0.0));

    // Court linkage follows court cases only: the police case's events are acknowledged unapplied.
    let skipped = eventually(&system, "court-linkage", "fengqiao_consumer_skipped_total", &[], |v| v >= 2.0).await;
    let court = system.scrape("court-linkage").await.unwrap();
    assert_eq!(value(&court, "fengqiao_consumer_applied_total", &[]), None, "{skipped} skipped, none applied: {court}");
    // Mediation keeps only its own clocks' deadlines: the police case's two (risk response,
    // police feedback) are acknowledged without a transaction; its request is applied.
    let skipped = eventually(&system, "mediation", "fengqiao_consumer_skipped_total", &[], |v| v >= 2.0).await;
    let mediation = system.scrape("mediation").await.unwrap();
    assert_eq!(skipped, 2.0, "{mediation}");
    assert_eq!(value(&mediation, "fengqiao_consumer_applied_total", &[]), Some(1.0), "{mediation}");
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_serves_one_endpoint_for_every_component_with_its_probes_and_consumer_lag() {
    let system = System::start_with(Mode::Standalone, &[METRICS_ON]).await.unwrap();
    for component in ["intake", "routing", "mediation", "gateway"] {
        eventually(&system, "standalone", "fengqiao_outbox_backlog", &[("component", component)], |v| v >= 0.0).await;
    }
    let police = AgencySession::connect(&system, POLICE).await;
    let case_id = police.submit(dispute(Source::Police, "JQ620802-2026-0701")).await.unwrap().status.unwrap().case_id;
    police.wait_for(&case_id, "RECEIVED", in_state(ReferralState::Received)).await;
    // A resubmission writes (finds) its owner row in a group commit of its own.
    police.submit(dispute(Source::Police, "JQ620802-2026-0701")).await.unwrap();
    // Each SQLite file's one writing connection is timed: how busy each writer is.
    for component in ["intake", "routing", "mediation", "gateway"] {
        let labels = &[("component", component)];
        eventually(&system, "standalone", "fengqiao_db_writer_held_seconds_count", labels, |v| v >= 1.0).await;
        eventually(&system, "standalone", "fengqiao_db_writer_held_seconds_sum", labels, |v| v > 0.0).await;
    }
    // … and by the work that held it: the submissions' group commits (a
    // resubmission's owner row), the audit writer, the consumers and the
    // relay, each under its own name.
    for (component, holder) in [
        ("intake", "case_registration"),
        ("intake", "outbox_relay"),
        ("routing", "routing-cases"),
        ("gateway", "case_owner"),
        ("gateway", "audit"),
        ("gateway", "gateway-status"),
    ] {
        let labels = &[("component", component), ("holder", holder)];
        eventually(&system, "standalone", "fengqiao_db_writer_held_seconds_count", labels, |v| v >= 1.0).await;
    }
    // Standalone numbers status changes as the projection commits them: no sequencer rounds.
    let text = system.scrape("standalone").await.unwrap();
    let rounds = value(&text, "fengqiao_db_writer_held_seconds_count", &[("holder", "status_numbering")]);
    assert_eq!(rounds, None, "{text}");
    // The in-process bus counts each consumer's lag as JetStream does.
    let lag = &[("component", "mediation"), ("consumer", "mediation-referrals")];
    eventually(&system, "standalone", "fengqiao_consumer_pending", lag, |v| v >= 0.0).await;
    // The same port answers the probes Kubernetes can use where gRPC probes cannot reach (TLS).
    let admin = system.metrics["standalone"];
    for (path, said) in [("livez", "live"), ("readyz", "ready")] {
        let answer = fengqiao_tests::http_client().get(format!("http://{admin}/{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        assert_eq!(answer.text().await.unwrap().trim(), said);
    }
    system.finish().await;
}
