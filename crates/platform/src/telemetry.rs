//! Logs and traces: `tracing` with JSON or pretty output, an OpenTelemetry
//! layer whose spans are exported over OTLP when an endpoint is configured, and
//! W3C `traceparent` carried in gRPC metadata and event headers so one trace
//! spans a hand-off. Logs go to standard error; standard output is for
//! what a command prints for its user.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogFormat, TelemetrySettings};

/// Keeps the trace exporter alive; dropping it flushes the spans not yet sent.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Installs the process-wide subscriber for `service` (e.g. `fengqiao-intake`).
/// A second call in the same process does nothing.
pub fn init(service: &str, settings: &TelemetrySettings) -> anyhow::Result<TelemetryGuard> {
    if INSTALLED.get().is_some() {
        return Ok(TelemetryGuard { provider: None });
    }
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let (subscriber, provider) = subscriber(service, settings)?;
    subscriber.try_init()?;
    let _ = INSTALLED.set(());
    Ok(TelemetryGuard { provider })
}

/// The logs' layer and, where an OTLP endpoint is set, the traces' layer with
/// the provider that exports them. Spans for traces are built only where they
/// go somewhere: without an exporter they were thrown away, and their
/// `traceparent` written into every event for nothing (2 % of the WAL a
/// referral; docs/performance.md, thirty-sixth round). Without one, no
/// `traceparent` is sent on either.
fn subscriber(
    service: &str,
    settings: &TelemetrySettings,
) -> anyhow::Result<(impl tracing::Subscriber + Send + Sync + 'static, Option<SdkTracerProvider>)> {
    let provider = match settings.otlp_endpoint.is_empty() {
        true => None,
        false => {
            use opentelemetry_otlp::WithExportConfig;
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.otlp_endpoint.clone())
                .build()?;
            let resource = opentelemetry_sdk::Resource::builder().with_service_name(service.to_string()).build();
            Some(SdkTracerProvider::builder().with_resource(resource).with_batch_exporter(exporter).build())
        }
    };
    // The log filter quiets the logs only: spans still reach the exporter at
    // `info`, so `warn` logs do not cost operators their traces.
    let traces = provider
        .as_ref()
        .map(|p| tracing_opentelemetry::layer().with_tracer(p.tracer("fengqiao")).with_filter(EnvFilter::new("info")));
    let filter = EnvFilter::try_new(&settings.log_filter)?;
    let ansi = colours(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    let fmt = logs(settings.log_format, std::io::stderr, ansi);
    Ok((tracing_subscriber::registry().with(fmt.with_filter(filter)).with(traces), provider))
}

/// Whether log lines carry colours: only for a person at a terminal, never in a
/// file, a pipe or a collector's stream (where the escape codes would garble
/// every line an operator greps), and not where `NO_COLOR` is set (no-color.org).
fn colours(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The logs' layer in `format`, written to `writer`, with colours or without.
fn logs<S, W>(format: LogFormat, writer: W, ansi: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer().with_writer(writer).json().with_current_span(true).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(ansi).compact().boxed(),
    }
}

/// For tests: silent unless `TEST_LOG=1`; safe to call from every test.
pub fn init_for_tests() {
    if std::env::var("TEST_LOG").is_ok_and(|v| v == "1") {
        let settings = TelemetrySettings {
            log_filter: "debug,h2=info,hyper=info,tower=info,sqlx=warn".into(),
            ..TelemetrySettings::default()
        };
        if let Ok(guard) = init("fengqiao-test", &settings) {
            std::mem::forget(guard);
        }
    }
}

/// The W3C `traceparent` of the current span, if it belongs to a trace.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the trace named by `traceparent` (from an event
/// header or gRPC metadata). Unknown or malformed values leave it a root.
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else { return };
    let carrier = HashMap::from([("traceparent".to_string(), tp.to_string())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The traceparent a span of `settings`' subscriber would send on.
    fn sent_on(settings: &TelemetrySettings) -> Option<String> {
        let (subscriber, provider) = subscriber("fengqiao-test", settings).unwrap();
        let sent = tracing::subscriber::with_default(subscriber, || {
            let _in = tracing::info_span!("call").entered();
            current_traceparent()
        });
        // Not shut down: that would try for 10 s to export the span to an endpoint nobody serves.
        std::mem::forget(provider);
        sent
    }

    /// What one log line with a field looks like through `logs`.
    fn line(ansi: bool) -> String {
        let written = crate::testing::CapturedLogs::default();
        let writer = {
            let written = written.clone();
            move || written.clone()
        };
        let subscriber = tracing_subscriber::registry().with(logs(LogFormat::Pretty, writer, ansi));
        tracing::subscriber::with_default(subscriber, || tracing::info!(case_id = "c-1", "case registered"));
        written.text()
    }

    #[test]
    fn logs_written_to_a_file_or_pipe_carry_no_colour_codes() {
        assert!(!colours(false, None), "stderr is a file or a pipe: no colours");
        assert!(colours(true, None), "a person at a terminal gets colours");
        assert!(!colours(true, Some("1".into())), "NO_COLOR set: none");
        assert!(colours(true, Some("".into())), "NO_COLOR empty counts as unset (no-color.org)");
        let plain = line(colours(false, None));
        assert!(plain.contains("case registered") && plain.contains("case_id=\"c-1\""), "{plain}");
        assert!(!plain.contains('\u{1b}'), "escape codes in a log file: {plain:?}");
        assert!(line(colours(true, None)).contains('\u{1b}'), "a terminal's line is coloured");
    }

    #[tokio::test]
    async fn spans_for_traces_are_built_only_where_an_exporter_takes_them() {
        assert_eq!(sent_on(&TelemetrySettings::default()), None, "no endpoint: no trace spans, nothing sent on");
        // Nothing listens there: the exporter only has to exist, and nothing is exported in time.
        let exporting =
            TelemetrySettings { otlp_endpoint: "http://127.0.0.1:9".into(), ..TelemetrySettings::default() };
        let sent = sent_on(&exporting).expect("with an endpoint, the call's span has a trace to send on");
        assert!(sent.starts_with("00-") && sent.len() == 55, "{sent}");
        // The log filter quiets the logs, not the traces.
        let quiet = TelemetrySettings { log_filter: "warn".into(), ..exporting };
        assert!(sent_on(&quiet).is_some(), "warn logs cost the traces");
    }
}
