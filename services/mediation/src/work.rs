//! The whole record of the work on one referral, assembled from its parts,
//! and the agreement document.

use fengqiao_domain::subsidy::{self, Difficulty};
use fengqiao_proto::fengqiao::common::v1::{MediationOutcome, ReferralState, RiskLevel};
use fengqiao_proto::fengqiao::mediation::v1::{
    AgreementDocument, CaseWork, GetAgreementDocumentRequest, GetCaseWorkRequest, JointState, PerformanceState,
    SessionState, SetDifficultyTierRequest, Subsidy,
};
use sqlx::AnyConnection;

use crate::access::{self, Who};
use crate::store::Stored;
use crate::{aftercare, assign, case_file, conclude, sessions, MediationError, MediationService};

impl MediationService {
    /// The record of `stored`'s work, as it stands now.
    pub(crate) async fn work_of(&self, conn: &mut AnyConnection, stored: Stored) -> Result<CaseWork, sqlx::Error> {
        let id = stored.item.referral_id.clone();
        let now = self.now();
        let mediators = assign::assignments(&mut *conn, &id).await?;
        let joint = assign::joint(&mut *conn, &id).await?;
        let sessions = sessions::of_referral(&mut *conn, &id).await?;
        let concluded = conclude::find(&mut *conn, &id).await?;
        let visits = aftercare::visits(&mut *conn, &id).await?;
        let file = case_file::assemble(conn, &id, &sessions, concluded.as_ref(), &visits).await?;
        let performance = concluded.as_ref().and_then(|c| aftercare::performance(c, now));
        let dispute = stored.item.dispute.clone().unwrap_or_default();
        let difficulty = Difficulty {
            risk: RiskLevel::try_from(stored.item.risk_level).unwrap_or_default(),
            headcount: dispute.headcount,
            amount_fen: dispute.amount_fen,
            sessions_held: sessions.iter().filter(|s| s.state == SessionState::Held as i32).count() as u32,
            joint: joint.iter().any(|j| j.state == JointState::Joined as i32),
        };
        let (tier, why) = match &stored.tier_override {
            (0, _) => {
                let (tier, why) = subsidy::tier(&difficulty);
                (tier, why.to_string())
            }
            (tier, reason) => (*tier, reason.clone()),
        };
        let outcome = MediationOutcome::try_from(stored.item.outcome).unwrap_or_default();
        let performed = performance
            .as_ref()
            .map_or(PerformanceState::Unspecified, |p| PerformanceState::try_from(p.state).unwrap_or_default());
        let division = dispute.location.as_ref().map_or("", |l| l.division_code.as_str());
        let payable = subsidy::payable(outcome, performed, file.complete);
        let subsidy = Subsidy {
            tier,
            tier_overridden: stored.tier_override.0 != 0,
            tier_reason: why,
            amount_fen: self.subsidy.amount_fen(tier, division),
            eligible: payable.is_ok(),
            why_not: payable.err().unwrap_or_default().to_string(),
        };
        let confirmation = concluded.as_ref().and_then(|c| crate::confirmation::view(c, self.confirmation_window));
        let concluded = concluded.unwrap_or_default();
        Ok(CaseWork {
            confirmation,
            mediators,
            joint_organisations: joint,
            sessions,
            agreement: concluded.agreement,
            agreement_sha256: concluded.sha256,
            routes_told: concluded.routes_told,
            refusing_party_number: concluded.refusing_party,
            performance,
            visits,
            case_file: Some(file),
            subsidy: Some(subsidy),
            concluded_at: stored.concluded_at.map(fengqiao_platform::db::timestamp),
            item: Some(stored.item),
        })
    }

    /// The record of a referral's work, for the lead or a joined organisation.
    pub async fn case_work(&self, r: GetCaseWorkRequest) -> Result<CaseWork, MediationError> {
        let actor = r.actor.unwrap_or_default();
        let mut conn = self.db.pool().acquire().await?;
        let stored = access::load(&mut conn, &r.referral_id, &actor, Who::LeadOrJoined).await?;
        Ok(self.work_of(&mut conn, stored).await?)
    }

    /// The agreement document, for the lead organisation.
    pub async fn agreement_document(
        &self,
        r: GetAgreementDocumentRequest,
    ) -> Result<AgreementDocument, MediationError> {
        let actor = r.actor.unwrap_or_default();
        let mut conn = self.db.pool().acquire().await?;
        access::load(&mut conn, &r.referral_id, &actor, Who::Lead).await?;
        let concluded = conclude::find(&mut conn, &r.referral_id).await?.filter(|c| !c.document.is_empty());
        let c = concluded.ok_or_else(|| {
            MediationError::Precondition("the referral has no agreement: it was not concluded with one".into())
        })?;
        Ok(AgreementDocument {
            referral_id: r.referral_id,
            template_id: c.template_id,
            text: c.document,
            sha256: c.sha256,
            rendered_at: Some(fengqiao_platform::db::timestamp(c.concluded_at)),
        })
    }

    /// Sets the difficulty tier instead of the rules.
    pub async fn set_tier(&self, r: SetDifficultyTierRequest) -> Result<Subsidy, MediationError> {
        let actor = r.actor.clone().unwrap_or_default();
        let mut v = Vec::new();
        if !(1..=4).contains(&r.tier) {
            v.push(fengqiao_platform::status::Violation::new("tier", "is 1 (simple) to 4 (major and difficult)"));
        }
        if r.reason.trim().is_empty() {
            v.push(fengqiao_platform::status::Violation::new("reason", "is required: why the rules' tier is wrong"));
        }
        if !v.is_empty() {
            return Err(MediationError::Invalid(v));
        }
        let mut tx = self.db.begin().await?;
        let stored = access::load_for_change(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        let mut states = access::WORKING.to_vec();
        states.push(ReferralState::Completed);
        access::require(&stored, &states, "set the difficulty tier")?;
        sqlx::query("UPDATE referrals SET tier_override = $1, tier_reason = $2 WHERE referral_id = $3")
            .bind(r.tier as i32)
            .bind(r.reason.trim())
            .bind(&r.referral_id)
            .execute(&mut *tx)
            .await?;
        let stored = access::load(&mut tx, &r.referral_id, &actor, Who::Lead).await?;
        let subsidy = self.work_of(&mut tx, stored).await?.subsidy.unwrap_or_default();
        tx.commit().await?;
        Ok(subsidy)
    }
}
