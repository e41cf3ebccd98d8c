//! Who mediates: the lead mediator and co-mediators (honouring the applicant's
//! choice, 挂号), and the organisations invited to mediate jointly (联合调解).

use fengqiao_platform::db::timestamp;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::mediation::v1::{
    AnswerJointInvitationRequest, AssignMediatorsRequest, InboxItem, InviteOrganisationsRequest, JointOrganisation,
    JointState, MediatorAssignment, MediatorRole,
};
use sqlx::{AnyConnection, Row};

use crate::access::{self, Who, WORKING};
use crate::{MediationError, MediationService};

async fn insert(
    conn: &mut AnyConnection,
    referral_id: &str,
    a: &MediatorAssignment,
    actor: &Actor,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO mediator_assignments (referral_id, mediator_id, role, chosen_by_party, reason, actor_org,
             actor_person, assigned_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (referral_id, mediator_id) DO NOTHING",
    )
    .bind(referral_id)
    .bind(&a.mediator_id)
    .bind(a.role)
    .bind(i32::from(a.chosen_by_party))
    .bind(&a.reason)
    .bind(&actor.org_id)
    .bind(&actor.person_id)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if a.role == MediatorRole::Lead as i32 {
        sqlx::query("UPDATE referrals SET lead_mediator_id = $1 WHERE referral_id = $2")
            .bind(&a.mediator_id)
            .bind(referral_id)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Makes the applicant's chosen mediator (honoured by routing) the lead, on acceptance.
pub(crate) async fn assign_chosen(
    conn: &mut AnyConnection,
    item: &mut InboxItem,
    actor: &Actor,
    at: i64,
) -> Result<(), sqlx::Error> {
    let lead = MediatorAssignment {
        mediator_id: item.mediator_id.clone(),
        role: MediatorRole::Lead as i32,
        chosen_by_party: true,
        ..Default::default()
    };
    insert(conn, &item.referral_id, &lead, actor, at).await?;
    item.lead_mediator_id = item.mediator_id.clone();
    Ok(())
}

/// The mediators of a referral, lead first.
pub(crate) async fn assignments(
    conn: &mut AnyConnection,
    referral_id: &str,
) -> Result<Vec<MediatorAssignment>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT mediator_id, role, chosen_by_party, reason, actor_org, actor_person, assigned_at
         FROM mediator_assignments WHERE referral_id = $1 ORDER BY role, mediator_id",
    )
    .bind(referral_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(MediatorAssignment {
                mediator_id: r.try_get("mediator_id")?,
                role: r.try_get("role")?,
                chosen_by_party: r.try_get::<i32, _>("chosen_by_party")? == 1,
                reason: r.try_get("reason")?,
                assigned_by: Some(Actor { org_id: r.try_get("actor_org")?, person_id: r.try_get("actor_person")? }),
                assigned_at: Some(timestamp(r.try_get("assigned_at")?)),
            })
        })
        .collect()
}

/// The organisations invited to a referral's mediation, by id.
pub(crate) async fn joint(conn: &mut AnyConnection, referral_id: &str) -> Result<Vec<JointOrganisation>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT org_id, state, reason, invited_at, answered_at FROM joint_organisations
         WHERE referral_id = $1 ORDER BY org_id",
    )
    .bind(referral_id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(JointOrganisation {
                org_id: r.try_get("org_id")?,
                state: r.try_get("state")?,
                reason: r.try_get("reason")?,
                invited_at: Some(timestamp(r.try_get("invited_at")?)),
                answered_at: r.try_get::<Option<i64>, _>("answered_at")?.map(timestamp),
            })
        })
        .collect()
}

fn check_assignment(r: &AssignMediatorsRequest) -> Result<(), MediationError> {
    let mut v = Vec::new();
    if r.lead_mediator_id.trim().is_empty() {
        v.push(fengqiao_platform::status::Violation::new("lead_mediator_id", "is required"));
    }
    for (i, co) in r.co_mediator_ids.iter().enumerate() {
        if co == &r.lead_mediator_id || r.co_mediator_ids[..i].contains(co) {
            v.push(fengqiao_platform::status::Violation::new(
                format!("co_mediator_ids[{i}]"),
                "names a mediator twice (or the lead); list each once",
            ));
        }
    }
    if v.is_empty() {
        Ok(())
    } else {
        Err(MediationError::Invalid(v))
    }
}

impl MediationService {
    /// Assigns the lead mediator and co-mediators, replacing earlier ones.
    pub async fn assign_mediators(&self, r: AssignMediatorsRequest) -> Result<Vec<MediatorAssignment>, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        check_assignment(&r)?;
        let mut conn = self.db.pool().acquire().await?;
        let stored = access::load(&mut conn, &r.referral_id, &actor, Who::Lead).await?;
        drop(conn);
        access::require(&stored, &WORKING, "assign mediators")?;
        let chosen = &stored.item.mediator_id;
        if !chosen.is_empty() && &r.lead_mediator_id != chosen && r.reason.trim().is_empty() {
            return Err(MediationError::invalid(
                "reason",
                format!("is required to replace the applicant's chosen mediator {chosen} (挂号) as lead"),
            ));
        }
        let known = self.peers.mediators(&stored.item.org_id).await.map_err(MediationError::Upstream)?;
        let ids = std::iter::once(("lead_mediator_id".to_string(), &r.lead_mediator_id))
            .chain(r.co_mediator_ids.iter().enumerate().map(|(i, id)| (format!("co_mediator_ids[{i}]"), id)));
        let mut v = Vec::new();
        for (field, id) in ids {
            if !known.iter().any(|m| &m.mediator_id == id && m.available) {
                v.push(fengqiao_platform::status::Violation::new(
                    field,
                    format!("{id} is not a mediator of {} who takes cases; see ListMediators", stored.item.org_id),
                ));
            }
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        let now = self.now();
        let mut tx = self.db.begin().await?;
        // The referral may have moved while its organisation's mediators were asked for.
        let current = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        access::require(&current, &WORKING, "assign mediators")?;
        sqlx::query("DELETE FROM mediator_assignments WHERE referral_id = $1")
            .bind(&r.referral_id)
            .execute(&mut *tx)
            .await?;
        let lead = MediatorAssignment {
            mediator_id: r.lead_mediator_id.clone(),
            role: MediatorRole::Lead as i32,
            chosen_by_party: &r.lead_mediator_id == chosen,
            reason: if &r.lead_mediator_id == chosen { String::new() } else { r.reason.trim().to_string() },
            ..Default::default()
        };
        insert(&mut tx, &r.referral_id, &lead, &actor, now).await?;
        for co in &r.co_mediator_ids {
            let a = MediatorAssignment {
                mediator_id: co.clone(),
                role: MediatorRole::CoMediator as i32,
                chosen_by_party: co == chosen,
                ..Default::default()
            };
            insert(&mut tx, &r.referral_id, &a, &actor, now).await?;
        }
        let all = assignments(&mut tx, &r.referral_id).await?;
        tx.commit().await?;
        Ok(all)
    }

    /// Invites organisations to mediate jointly; an organisation that declined may be invited again.
    pub async fn invite(&self, r: InviteOrganisationsRequest) -> Result<Vec<JointOrganisation>, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut v = Vec::new();
        if r.org_ids.is_empty() {
            v.push(fengqiao_platform::status::Violation::new("org_ids", "name at least one organisation"));
        }
        for (i, org) in r.org_ids.iter().enumerate() {
            if org.trim().is_empty() || org == &actor.org_id {
                v.push(fengqiao_platform::status::Violation::new(
                    format!("org_ids[{i}]"),
                    "must name another organisation than the lead",
                ));
            }
        }
        if r.reason.trim().is_empty() {
            v.push(fengqiao_platform::status::Violation::new("reason", "is required: why a joint mediation is needed"));
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        let mut tx = self.db.begin().await?;
        let stored = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        access::require(&stored, &WORKING, "invite organisations")?;
        let now = self.now();
        for org in &r.org_ids {
            sqlx::query(
                "INSERT INTO joint_organisations (referral_id, org_id, state, reason, invited_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (referral_id, org_id) DO UPDATE SET state = $3, reason = $4, invited_at = $5,
                     answered_at = NULL WHERE joint_organisations.state = $6",
            )
            .bind(&r.referral_id)
            .bind(org)
            .bind(JointState::Invited as i32)
            .bind(r.reason.trim())
            .bind(now)
            .bind(JointState::Declined as i32)
            .execute(&mut *tx)
            .await?;
        }
        let all = joint(&mut tx, &r.referral_id).await?;
        tx.commit().await?;
        Ok(all)
    }

    /// An invited organisation joins or declines.
    pub async fn answer_invitation(
        &self,
        r: AnswerJointInvitationRequest,
    ) -> Result<JointOrganisation, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        if actor.org_id.trim().is_empty() {
            return Err(MediationError::invalid("actor.org_id", "is required: the invited organisation"));
        }
        if !r.join && r.reason.trim().is_empty() {
            return Err(MediationError::invalid("reason", "is required to decline; the lead organisation is told"));
        }
        let mut tx = self.db.begin().await?;
        let stored = crate::store::find_for_change(&mut tx, &r.referral_id).await?.ok_or(MediationError::NotFound)?;
        let invited = joint(&mut tx, &r.referral_id).await?.into_iter().find(|j| j.org_id == actor.org_id);
        let invited = invited.ok_or(MediationError::NotFound)?;
        if invited.state != JointState::Invited as i32 {
            return Err(MediationError::Precondition(format!(
                "your organisation already answered ({}); the lead organisation may invite it again",
                if invited.state == JointState::Joined as i32 { "joined" } else { "declined" }
            )));
        }
        access::require(&stored, &WORKING, "join the mediation")?;
        let (state, reason) = if r.join {
            (JointState::Joined, invited.reason.clone())
        } else {
            (JointState::Declined, r.reason.trim().to_string())
        };
        let now = self.now();
        sqlx::query(
            "UPDATE joint_organisations SET state = $1, reason = $2, answered_at = $3
             WHERE referral_id = $4 AND org_id = $5 AND state = $6",
        )
        .bind(state as i32)
        .bind(&reason)
        .bind(now)
        .bind(&r.referral_id)
        .bind(&actor.org_id)
        .bind(JointState::Invited as i32)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(JointOrganisation { state: state as i32, reason, answered_at: Some(timestamp(now)), ..invited })
    }
}
