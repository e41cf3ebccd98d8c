//! What a consumer's handler is: the trait each component implements, its
//! error, and the helpers that tell which events of a batch concern it.

use async_trait::async_trait;
use sqlx::{Any, Transaction};
use tracing::Instrument;

use crate::bus::Envelope;
use crate::db::Database;

/// Why a handler could not apply an event. The text is stored in the
/// dead-letter record and logged: it must hold no personal data.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HandlerError(pub String);

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        Self(format!("database: {e}"))
    }
}

impl From<prost::DecodeError> for HandlerError {
    fn from(e: prost::DecodeError) -> Self {
        Self(format!("malformed payload: {e}"))
    }
}

impl From<anyhow::Error> for HandlerError {
    fn from(e: anyhow::Error) -> Self {
        Self(format!("{e:#}"))
    }
}

/// An event about to be applied, with the span its work belongs to (a child of
/// the trace it was published in; none when the caller is already inside it).
pub struct Arrival<'a> {
    /// The event.
    pub event: &'a Envelope,
    /// Its span.
    pub span: tracing::Span,
}

/// Applies events of one consumer.
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies `event` inside `tx`, which also holds its inbox row. An error
    /// rolls both back; the event is retried.
    async fn handle(&self, tx: &mut Transaction<'static, Any>, event: &Envelope) -> Result<(), HandlerError>;

    /// Applies `events` in order inside `tx`, which holds their inbox rows: as
    /// [`handle`](Self::handle) one by one unless the handler does the same
    /// work in fewer statements. An error rolls all back; each is then retried alone.
    async fn handle_all(&self, tx: &mut Transaction<'static, Any>, events: &[Arrival<'_>]) -> Result<(), HandlerError> {
        handle_each(self, tx, events).await
    }

    /// Called after a transaction holding applied events has committed (e.g.
    /// to wake readers of what the handler wrote).
    fn committed(&self) {}

    /// Which of a lane's waiting `events` can have an effect here. Those that
    /// cannot are acknowledged without a transaction or an inbox row (having no
    /// effect, they need no record to stay single). A later event of a case
    /// with a concerned event in the same batch is always applied. An error, or
    /// the default, applies every event.
    async fn concerned(&self, _db: &Database, events: &[&Envelope]) -> Result<Vec<bool>, HandlerError> {
        Ok(vec![true; events.len()])
    }
}

/// Applies `events` one by one with `handler`, each inside its own span: what
/// [`EventHandler::handle_all`] does unless the handler takes a run at once.
pub async fn handle_each<H: EventHandler + ?Sized>(
    handler: &H,
    tx: &mut Transaction<'static, Any>,
    events: &[Arrival<'_>],
) -> Result<(), HandlerError> {
    for arrival in events {
        handler.handle(tx, arrival.event).instrument(arrival.span.clone()).await?;
    }
    Ok(())
}

/// `events` cut into runs of one kind of event: a handler that writes a run
/// of some kind in fewer statements takes those runs at once and
/// [`handle_each`] the others. Each run starts at the first event not yet
/// taken and gathers every later event of its kind that no event left behind
/// is ahead of in its own case: an event moves ahead of other cases' events
/// only, as it may across lanes, never ahead of its own case's (nor of an
/// event without a case). So a lane's `requested, scheduled, requested,
/// scheduled` of two cases is two runs, not four.
pub fn runs_of_kind<'e>(events: &[Arrival<'e>]) -> Vec<Vec<Arrival<'e>>> {
    let mut left: Vec<&Arrival<'e>> = events.iter().collect();
    let mut runs = Vec::new();
    while let Some(first) = left.first() {
        let kind = first.event.event_type.clone();
        let (mut run, mut rest) = (Vec::new(), Vec::with_capacity(left.len()));
        let mut behind: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut barrier = false;
        for arrival in left {
            let case = arrival.event.case_id.as_str();
            if !barrier && arrival.event.event_type == kind && !behind.contains(case) {
                run.push(Arrival { event: arrival.event, span: arrival.span.clone() });
            } else {
                barrier |= case.is_empty();
                behind.insert(case);
                rest.push(arrival);
            }
        }
        runs.push(run);
        left = rest;
    }
    runs
}

/// The span of work done for a whole `run` at once: it follows from each
/// event's span (a link in its trace), so every event's trace leads to the
/// statements that applied it.
pub fn run_span(run: &[Arrival<'_>]) -> tracing::Span {
    let span = tracing::info_span!("event_run", events = run.len());
    for arrival in run {
        span.follows_from(&arrival.span);
    }
    span
}

/// For handlers that follow only some cases: `claims` decides an event alone
/// where it can (a registration by its source, say); any other event concerns
/// the handler when `table` has a row of its case (`case_id` column).
pub async fn concerns_tracked_cases(
    db: &Database,
    events: &[&Envelope],
    table: &'static str,
    claims: impl Fn(&Envelope) -> Result<Option<bool>, HandlerError>,
) -> Result<Vec<bool>, HandlerError> {
    let mut verdicts = Vec::with_capacity(events.len());
    for event in events {
        verdicts.push(claims(event)?);
    }
    let unknown: std::collections::BTreeSet<&str> =
        events.iter().zip(&verdicts).filter(|(_, v)| v.is_none()).map(|(e, _)| e.case_id.as_str()).collect();
    let mut tracked = std::collections::HashSet::new();
    if !unknown.is_empty() {
        let marks: Vec<String> = (1..=unknown.len()).map(|i| format!("${i}")).collect();
        let sql = format!("SELECT DISTINCT case_id FROM {table} WHERE case_id IN ({})", marks.join(", "));
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql));
        for case in &unknown {
            query = query.bind(*case);
        }
        tracked.extend(query.fetch_all(db.pool()).await?);
    }
    Ok(events.iter().zip(verdicts).map(|(e, v)| v.unwrap_or_else(|| tracked.contains(&e.case_id))).collect())
}

/// Keeps an event when it concerns the handler or an earlier event of its
/// case in the batch does (that one may start the tracking it relies on).
pub(super) fn with_their_cases(events: &[&Envelope], mut verdicts: Vec<bool>) -> Vec<bool> {
    let mut cases = std::collections::HashSet::new();
    for (event, verdict) in events.iter().zip(verdicts.iter_mut()) {
        if *verdict {
            cases.insert(event.case_id.as_str());
        } else if cases.contains(event.case_id.as_str()) {
            *verdict = true;
        }
    }
    verdicts
}
