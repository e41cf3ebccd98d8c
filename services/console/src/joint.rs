//! Joint work on a referral, through the mediation API as the signed-in member
//! of staff: the lead organisation invites others to mediate jointly (联合调解)
//! and sees their answers; an invited organisation joins or declines from its
//! inbox (the API shows it nothing more of the case until it joins); after an
//! agreement, the parties' joint application for judicial confirmation
//! (司法确认) and what the court did with it.

use std::collections::{HashMap, HashSet};

use fengqiao_platform::status::{invalid_argument, Violation};
use fengqiao_proto::fengqiao::court::v1::ConfirmationState;
use fengqiao_proto::fengqiao::mediation::v1::{
    AnswerJointInvitationRequest, ApplyForConfirmationRequest, CaseWork, GetCaseWorkRequest, InboxItem,
    InviteOrganisationsRequest, JointState,
};
use fengqiao_proto::fengqiao::routing::v1::ListOrganisationsRequest;
use serde::Serialize;

use crate::app::App;
use crate::casework::field;
use crate::i18n::{words, Lang};
use crate::pages::actor;
use crate::sessions::Session;

type Fields = HashMap<String, String>;

/// An organisation in the joint mediation, as the page lists it.
#[derive(Debug, Serialize)]
pub struct JointLine {
    /// The organisation.
    pub org_id: String,
    /// Its answer in words.
    pub state: String,
    /// Why it was invited, or why it declined.
    pub reason: String,
}

/// An organisation the lead may invite.
#[derive(Debug, Serialize)]
pub struct OrgChoice {
    /// The organisation id.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// The judicial confirmation of the agreement, as the page shows it.
#[derive(Debug, Serialize)]
pub struct ConfirmationView {
    /// Where it stands, in words.
    pub state: String,
    /// The last day the parties may apply, local date.
    pub window_ends: String,
    /// The court, once it acted.
    pub court_id: String,
    /// The court's reason for a rejection.
    pub reason: String,
    /// Whether the parties may still apply (not yet applied, window open).
    pub may_apply: bool,
}

/// What the referral page shows of joint work.
#[derive(Debug, Serialize, Default)]
pub struct JointView {
    /// The invited organisations and their answers.
    pub organisations: Vec<JointLine>,
    /// Organisations the lead may invite (for the lead's staff while the work goes on).
    pub invitable: Vec<OrgChoice>,
    /// The agreement's judicial confirmation, once there is an agreement.
    pub confirmation: Option<ConfirmationView>,
}

fn joint_state_name(state: i32, lang: Lang) -> &'static str {
    let w = words(lang);
    match JointState::try_from(state).unwrap_or_default() {
        JointState::Invited => w["joint_invited"],
        JointState::Joined => w["joint_joined"],
        JointState::Declined => w["joint_declined"],
        JointState::Unspecified => "",
    }
}

fn confirmation_state_name(state: i32, lang: Lang) -> &'static str {
    let w = words(lang);
    match ConfirmationState::try_from(state).unwrap_or_default() {
        ConfirmationState::Unspecified => w["confirm_none"],
        ConfirmationState::Applied => w["confirm_applied"],
        ConfirmationState::Accepted => w["confirm_accepted"],
        ConfirmationState::Valid => w["confirm_valid"],
        ConfirmationState::Rejected => w["confirm_rejected"],
    }
}

/// Today in Beijing, `2026-12-02`.
fn today() -> String {
    let now = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+8));
    format!("{}-{:02}-{:02}", now.year(), u8::from(now.month()), now.day())
}

/// The joint work of `work`; `inviting` lists the organisations the lead may invite.
pub async fn view(app: &App, work: &CaseWork, lang: Lang, inviting: bool) -> JointView {
    let organisations: Vec<JointLine> = work
        .joint_organisations
        .iter()
        .map(|j| JointLine {
            org_id: j.org_id.clone(),
            state: joint_state_name(j.state, lang).to_string(),
            reason: j.reason.clone(),
        })
        .collect();
    let confirmation = work.confirmation.as_ref().map(|c| ConfirmationView {
        state: confirmation_state_name(c.state, lang).to_string(),
        window_ends: c.window_ends.clone(),
        court_id: c.court_id.clone(),
        reason: c.reason.clone(),
        // Dates as `YYYY-MM-DD` compare as text.
        may_apply: c.state == ConfirmationState::Unspecified as i32 && today() <= c.window_ends,
    });
    let mut invitable = Vec::new();
    if inviting {
        let lead = work.item.as_ref().map(|i| i.org_id.as_str()).unwrap_or_default();
        let taken: HashSet<&str> = work
            .joint_organisations
            .iter()
            .filter(|j| j.state != JointState::Declined as i32)
            .map(|j| j.org_id.as_str())
            .collect();
        let request = ListOrganisationsRequest { page_size: 1000, ..Default::default() };
        match app.routing.clone().list_organisations(request).await {
            Ok(r) => {
                invitable = r
                    .into_inner()
                    .organisations
                    .into_iter()
                    .filter(|o| o.org_id != lead && !taken.contains(o.org_id.as_str()))
                    .map(|o| OrgChoice { id: o.org_id, name: o.name })
                    .collect();
            }
            Err(e) => tracing::warn!(code = ?e.code(), "cannot list organisations for the invitation form"),
        }
    }
    JointView { organisations, invitable, confirmation }
}

/// The referral ids among `items` that invite the staff's organisation and
/// await its answer: another organisation leads them, and the API does not
/// yet show the staff their work (it does once the organisation joins).
pub async fn awaiting_answer(app: &App, session: &Session, items: &[InboxItem]) -> HashSet<String> {
    if !session.staff.role.mediates() {
        return HashSet::new();
    }
    let asks = items.iter().filter(|i| i.org_id != session.staff.org_id).map(|item| async move {
        let request = GetCaseWorkRequest { referral_id: item.referral_id.clone(), actor: actor(session) };
        match app.mediation.clone().get_case_work(request).await {
            Err(status) if status.code() == tonic::Code::NotFound => Some(item.referral_id.clone()),
            Err(status) => {
                tracing::warn!(code = ?status.code(), "cannot tell a joint mediation from an invitation; listed as joined");
                None
            }
            Ok(_) => None,
        }
    });
    futures::future::join_all(asks).await.into_iter().flatten().collect()
}

/// Invites the organisation chosen, with the reason.
pub async fn invite(app: &App, session: &Session, id: &str, fields: &Fields) -> Result<(), tonic::Status> {
    let org_id = field(fields, "org_id");
    if org_id.is_empty() {
        return Err(invalid_argument(&[Violation::new("org_id", "choose the organisation to invite")]));
    }
    let request = InviteOrganisationsRequest {
        referral_id: id.to_string(),
        actor: actor(session),
        org_ids: vec![org_id],
        reason: field(fields, "reason"),
    };
    app.mediation.clone().invite_organisations(request).await.map(|_| ())
}

/// The staff's organisation joins (`join`) or declines, with the reason.
pub async fn answer(app: &App, session: &Session, id: &str, join: bool, fields: &Fields) -> Result<(), tonic::Status> {
    let request = AnswerJointInvitationRequest {
        referral_id: id.to_string(),
        actor: actor(session),
        join,
        reason: field(fields, "reason"),
    };
    app.mediation.clone().answer_joint_invitation(request).await.map(|_| ())
}

/// Files the parties' joint application for judicial confirmation: every
/// party consents (the form's check box says they all signed the application).
pub async fn apply(app: &App, session: &Session, id: &str, fields: &Fields) -> Result<(), tonic::Status> {
    if field(fields, "all_consent") != "on" {
        return Err(invalid_argument(&[Violation::new(
            "all_consent",
            "the parties apply jointly: tick it once every party has signed the application",
        )]));
    }
    let request = ApplyForConfirmationRequest {
        referral_id: id.to_string(),
        actor: actor(session),
        consenting_party_numbers: crate::pages::party_numbers(app, session, id).await?,
        concerns_personal_status: field(fields, "personal_status") == "on",
    };
    app.mediation.clone().apply_for_confirmation(request).await.map(|_| ())
}
