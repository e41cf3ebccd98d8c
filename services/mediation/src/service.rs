//! The organisation's work on its referrals: the domain behind mediation's API.

use std::sync::Arc;

use fengqiao_domain::referral::{self, Action, Side};
use fengqiao_platform::bus::Envelope;
use fengqiao_platform::config::SubsidySettings;
use fengqiao_platform::db::now_micros;
use fengqiao_platform::outbox::{self, OutboxNotifier};
use fengqiao_platform::status::Violation;
use fengqiao_platform::Database;
use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome, Party, ReferralState};
use fengqiao_proto::fengqiao::events::v1::{MediationConcluded, ReferralRequested, ReferralStateChanged};
use fengqiao_proto::fengqiao::mediation::v1::{CancelReferralRequest, InboxItem};
use fengqiao_proto::EventKind;
use sqlx::{Any, Transaction};

use crate::peers::Peers;
use crate::store::{self, InboxFilter};
use crate::MediationError;

const COMPONENT: &str = "mediation";

/// What a staff member asks of a referral.
#[derive(Debug, Clone)]
pub struct Step {
    /// The action.
    pub action: Action,
    /// Who asks (staff of the receiving organisation, or the sender for a cancel).
    pub actor: Actor,
    /// Why (required to reject, fail or cancel).
    pub reason: String,
    /// The outcome, to complete.
    pub outcome: MediationOutcome,
    /// A summary of the outcome, to complete.
    pub summary: String,
    /// The details of the outcome, checked, to complete.
    pub conclusion: Option<crate::conclude::Conclusion>,
}

impl Step {
    /// A step with no reason or outcome.
    pub fn new(action: Action, actor: Actor) -> Self {
        Self {
            action,
            actor,
            reason: String::new(),
            outcome: MediationOutcome::Unspecified,
            summary: String::new(),
            conclusion: None,
        }
    }
}

/// The time now, in microseconds (the real clock, or a test's).
pub type Now = Arc<dyn Fn() -> i64 + Send + Sync>;

/// An organisation's inbox and mediations.
#[derive(Clone)]
pub struct MediationService {
    pub(crate) db: Database,
    pub(crate) outbox: OutboxNotifier,
    pub(crate) peers: Arc<dyn Peers>,
    pub(crate) subsidy: SubsidySettings,
    pub(crate) confirmation_window: fengqiao_domain::period::Period,
    now: Now,
}

/// One inbox page.
#[derive(Debug)]
pub struct InboxPage {
    /// The items.
    pub items: Vec<InboxItem>,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
}

fn micros(item: &InboxItem) -> i64 {
    item.received_at.as_ref().map_or(0, fengqiao_platform::db::micros_of)
}

impl MediationService {
    /// Mediation over `db`, asking `peers` for mediators and contacts in full,
    /// paying subsidies by `subsidy`.
    pub fn new(db: Database, outbox: OutboxNotifier, peers: Arc<dyn Peers>, subsidy: SubsidySettings) -> Self {
        Self {
            db,
            outbox,
            peers,
            subsidy,
            confirmation_window: fengqiao_domain::period::Period::Days(30),
            now: Arc::new(now_micros),
        }
    }

    /// The same, with the parties' window to apply for judicial confirmation
    /// (`clocks.confirmation_application`).
    pub fn with_confirmation_window(self, confirmation_window: fengqiao_domain::period::Period) -> Self {
        Self { confirmation_window, ..self }
    }

    /// The same, reading the time from `now` (tests that replay a past month).
    pub fn with_clock(self, now: Now) -> Self {
        Self { now, ..self }
    }

    /// The time now, in microseconds.
    pub(crate) fn now(&self) -> i64 {
        (self.now)()
    }

    /// The parties' contacts in full, for staff of the organisation working on
    /// the referral; intake records the access.
    pub async fn party_contacts(&self, referral_id: &str, actor: Option<Actor>) -> Result<Vec<Party>, MediationError> {
        let actor = actor.unwrap_or_default();
        let mut conn = self.db.pool().acquire().await?;
        let item = store::find(&mut conn, referral_id).await?.ok_or(MediationError::NotFound)?.item;
        drop(conn);
        if actor.org_id.is_empty() || item.org_id != actor.org_id {
            return Err(MediationError::NotFound);
        }
        let state = ReferralState::try_from(item.state).unwrap_or(ReferralState::Unspecified);
        if !matches!(state, ReferralState::Accepted | ReferralState::InProgress | ReferralState::OnHold) {
            return Err(MediationError::NotWorking(referral::state_name(state)));
        }
        let purpose = format!("mediation of referral {referral_id}");
        self.peers.parties(&item.case_id, &actor, purpose).await.map_err(MediationError::Upstream)
    }

    /// Records a requested referral as RECEIVED in the caller's transaction
    /// and announces it. A referral cancelled before it arrived stays cancelled.
    pub async fn receive(
        &self,
        tx: &mut Transaction<'static, Any>,
        requested: &ReferralRequested,
    ) -> Result<(), sqlx::Error> {
        self.receive_all(tx, std::slice::from_ref(requested)).await
    }

    /// [`receive`](Self::receive) for several requested referrals, in order:
    /// their rows in one statement and their announcements in another.
    pub async fn receive_all(
        &self,
        tx: &mut Transaction<'static, Any>,
        requested: &[ReferralRequested],
    ) -> Result<(), sqlx::Error> {
        let items: Vec<InboxItem> = requested
            .iter()
            .map(|r| InboxItem {
                referral_id: r.referral_id.clone(),
                case_id: r.case_id.clone(),
                case_no: r.case_no.clone(),
                org_id: r.org_id.clone(),
                sender: r.sender.clone(),
                state: ReferralState::Received as i32,
                dispute: r.dispute.clone(),
                risk_level: r.risk_level,
                mediator_id: r.mediator_id.clone(),
                ..Default::default()
            })
            .collect();
        let inserted = store::insert_all(tx, &items, self.now()).await?;
        let mut announced = Vec::with_capacity(items.len());
        for (item, new) in items.iter().zip(inserted) {
            if new {
                let actor = Actor { org_id: item.org_id.clone(), ..Default::default() };
                announced.extend(announcements(item, ReferralState::Requested, Action::Receive, &actor, None));
            }
        }
        outbox::append_all(tx, &announced).await
    }

    /// One page of `org_id`'s inbox, newest first.
    pub async fn inbox(
        &self,
        org_id: &str,
        filter: &InboxFilter,
        page_size: u32,
        page_token: &str,
    ) -> Result<InboxPage, MediationError> {
        if org_id.is_empty() {
            return Err(MediationError::Invalid(vec![Violation::new("org_id", "is required")]));
        }
        let after = if page_token.is_empty() {
            None
        } else {
            let parsed =
                page_token.split_once(':').and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())));
            Some(parsed.ok_or_else(|| {
                MediationError::Invalid(vec![Violation::new(
                    "page_token",
                    "is not a token from a previous page; start again without it",
                )])
            })?)
        };
        let limit = match page_size {
            0 => 50,
            n => n.min(500),
        };
        let mut conn = self.db.pool().acquire().await?;
        let rows = store::inbox(&mut conn, org_id, filter, after, i64::from(limit) + 1).await?;
        let mut items: Vec<InboxItem> = rows.into_iter().map(|s| s.item).collect();
        let next_page_token = if items.len() > limit as usize {
            items.truncate(limit as usize);
            let last = items.last().expect("non-empty");
            format!("{}:{}", micros(last), last.referral_id)
        } else {
            String::new()
        };
        Ok(InboxPage { items, next_page_token })
    }

    /// Moves a referral as its receiving organisation asks.
    pub async fn act(&self, referral_id: &str, step: Step) -> Result<InboxItem, MediationError> {
        check_step(&step)?;
        for _ in 0..5 {
            let mut tx = self.db.begin().await?;
            let stored = store::find(&mut tx, referral_id).await?.ok_or(MediationError::NotFound)?;
            let mut item = stored.item;
            if item.org_id != step.actor.org_id {
                return Err(MediationError::NotFound);
            }
            let from = ReferralState::try_from(item.state).unwrap_or(ReferralState::Unspecified);
            let to = referral::transition(from, step.action, Side::Receiver)?;
            item.state = to as i32;
            if step.action.needs_reason() || step.action == Action::Hold {
                item.reason = step.reason.clone();
            }
            if step.action == Action::Complete {
                item.outcome = step.outcome as i32;
                item.summary = step.summary.clone();
            }
            // A conclusion is dated when its document was rendered.
            let now = step.conclusion.as_ref().map_or_else(|| self.now(), |c| c.at);
            if !store::update_state(&mut tx, &item, from, now).await? {
                continue; // a concurrent change won; look again
            }
            if step.action == Action::Accept && !item.mediator_id.is_empty() {
                // The applicant's choice (挂号), honoured by routing, leads.
                crate::assign::assign_chosen(&mut tx, &mut item, &step.actor, now).await?;
            }
            if let Some(conclusion) = &step.conclusion {
                crate::conclude::record(&mut tx, &item, conclusion, now).await?;
            }
            announce(&mut tx, &item, from, step.action, &step.actor, step.conclusion.as_ref()).await?;
            tx.commit().await?;
            self.outbox.notify();
            return Ok(item);
        }
        Err(anyhow::anyhow!("referral kept changing under five attempts").into())
    }

    /// Cancels a referral for its sender, in one transaction against any
    /// concurrent accept; records the cancellation if the referral has not arrived.
    pub async fn cancel(&self, request: CancelReferralRequest) -> Result<InboxItem, MediationError> {
        let mut violations = Vec::new();
        for (field, value) in [
            ("referral_id", &request.referral_id),
            ("case_id", &request.case_id),
            ("org_id", &request.org_id),
            ("sender", &request.sender),
            ("reason", &request.reason),
        ] {
            if value.trim().is_empty() {
                violations.push(Violation::new(field, "is required"));
            }
        }
        if !violations.is_empty() {
            return Err(MediationError::Invalid(violations));
        }
        let actor = Actor { org_id: request.sender.clone(), ..Default::default() };
        for _ in 0..5 {
            let mut tx = self.db.begin().await?;
            let Some(stored) = store::find(&mut tx, &request.referral_id).await? else {
                let item = InboxItem {
                    referral_id: request.referral_id.clone(),
                    case_id: request.case_id.clone(),
                    org_id: request.org_id.clone(),
                    sender: request.sender.clone(),
                    state: ReferralState::Cancelled as i32,
                    reason: request.reason.clone(),
                    ..Default::default()
                };
                if !store::insert(&mut tx, &item, self.now()).await? {
                    continue; // it arrived meanwhile
                }
                announce(&mut tx, &item, ReferralState::Requested, Action::Cancel, &actor, None).await?;
                tx.commit().await?;
                self.outbox.notify();
                return Ok(item);
            };
            let mut item = stored.item;
            if item.sender != request.sender {
                return Err(MediationError::NotFound);
            }
            let from = ReferralState::try_from(item.state).unwrap_or(ReferralState::Unspecified);
            let expected = ReferralState::try_from(request.expected_state).unwrap_or(ReferralState::Unspecified);
            if expected != ReferralState::Unspecified && expected != from {
                return Err(MediationError::StateChanged {
                    expected: referral::state_name(expected),
                    actual: referral::state_name(from),
                });
            }
            item.state = referral::transition(from, Action::Cancel, Side::Sender)? as i32;
            item.reason = request.reason.clone();
            if !store::update_state(&mut tx, &item, from, self.now()).await? {
                continue;
            }
            announce(&mut tx, &item, from, Action::Cancel, &actor, None).await?;
            tx.commit().await?;
            self.outbox.notify();
            return Ok(item);
        }
        Err(anyhow::anyhow!("referral kept changing under five attempts").into())
    }
}

fn check_step(step: &Step) -> Result<(), MediationError> {
    let mut v = Vec::new();
    if step.actor.org_id.trim().is_empty() {
        v.push(Violation::new("actor.org_id", "is required: the organisation acting"));
    }
    if step.action == Action::Hold && step.reason.trim().is_empty() {
        v.push(Violation::new("reason", "is required to put mediation on hold, e.g. a hearing on 2026-12-01"));
    }
    if step.action.needs_reason() && step.reason.trim().is_empty() {
        v.push(Violation::new(
            "reason",
            format!("is required to {} a referral; it is told to the sender", step.action.verb()),
        ));
    }
    if step.action == Action::Complete && step.outcome == MediationOutcome::Unspecified {
        v.push(Violation::new("outcome", "is required: one of the MediationOutcome values other than UNSPECIFIED"));
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(MediationError::Invalid(v))
    }
}

/// The state change's event (and, on completion, the conclusion) in the same transaction.
async fn announce(
    tx: &mut Transaction<'static, Any>,
    item: &InboxItem,
    from: ReferralState,
    action: Action,
    actor: &Actor,
    conclusion: Option<&crate::conclude::Conclusion>,
) -> Result<(), sqlx::Error> {
    outbox::append_all(tx, &announcements(item, from, action, actor, conclusion)).await
}

/// The events announcing a referral's move from `from` to the item's state.
fn announcements(
    item: &InboxItem,
    from: ReferralState,
    action: Action,
    actor: &Actor,
    conclusion: Option<&crate::conclude::Conclusion>,
) -> Vec<Envelope> {
    let changed = ReferralStateChanged {
        case_id: item.case_id.clone(),
        referral_id: item.referral_id.clone(),
        org_id: item.org_id.clone(),
        from_state: from as i32,
        to_state: item.state,
        actor: Some(actor.clone()),
        reason: item.reason.clone(),
    };
    let mut events = vec![Envelope::new(COMPONENT, action.event_kind(), &changed)];
    if action == Action::Complete {
        let terms = conclusion.and_then(|c| c.agreement.as_ref());
        let concluded = MediationConcluded {
            case_id: item.case_id.clone(),
            referral_id: item.referral_id.clone(),
            org_id: item.org_id.clone(),
            outcome: item.outcome,
            summary: item.summary.clone(),
            return_to_source: conclusion.is_some_and(|c| c.return_to_source),
            agreement_sha256: conclusion.and_then(|c| c.document.as_ref()).map(|d| d.2.clone()).unwrap_or_default(),
            agreement_terms: terms.map(|t| t.terms.clone()).unwrap_or_default(),
            agreement_amount_fen: terms.map_or(0, |t| t.amount_fen),
            performance_deadline: terms.map(|t| t.performance_deadline.clone()).unwrap_or_default(),
        };
        events.push(Envelope::new(COMPONENT, EventKind::MediationConcluded, &concluded));
    }
    events
}
