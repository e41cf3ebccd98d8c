//! Party look-up: a look-up service (a county portal, hotline or
//! mini-program, registered as an agency of kind `lookup`) asks on a party's
//! behalf for the progress of one case by its case number and verification
//! code, and for who called about it. No personal data is answered; wrong
//! codes are counted per case number and, past the limit, look-ups of that
//! number are refused for a while.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fengqiao_platform::db::timestamp;
use fengqiao_platform::status::{self, Violation};
use fengqiao_proto::fengqiao::gateway::v1::*;
use sha2::{Digest, Sha256};
use tonic::{Code, Status};

use crate::agency::AgencyApi;
use crate::store::{self, Agency};

/// How long wrong codes are remembered, and a case number stays refused.
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// A code as a party may type it: case and spaces or dashes do not matter.
fn normalise(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_uppercase()
}

fn same(a: &str, b: &str) -> bool {
    // Compared by digest, so the time taken says nothing about the stored code.
    !a.is_empty() && Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// Wrong codes by case number.
pub struct Throttle {
    max_failures: u32,
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    /// Refuses a case number after `max_failures` wrong codes within the window.
    pub fn new(max_failures: u32) -> Self {
        Self { max_failures: max_failures.max(1), failures: Mutex::new(HashMap::new()) }
    }

    fn check(&self, case_no: &str) -> Result<(), Status> {
        let map = self.failures.lock().expect("the throttle's lock is never poisoned");
        match map.get(case_no) {
            Some((n, since)) if *n >= self.max_failures && since.elapsed() < WINDOW => {
                Err(status::retry_later(
                    Code::ResourceExhausted,
                    "too many wrong verification codes for this case number; ask the party to check the receipt and try again later",
                    WINDOW.saturating_sub(since.elapsed()),
                ))
            }
            _ => Ok(()),
        }
    }

    fn failed(&self, case_no: &str) {
        let mut map = self.failures.lock().expect("the throttle's lock is never poisoned");
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = map.entry(case_no.to_string()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}

fn not_found() -> Status {
    Status::not_found("no case with this case number and verification code; check both on the receipt")
}

impl AgencyApi {
    /// The status of `case_no` if `code` is its verification code.
    async fn verified(&self, case_no: &str, code: &str) -> Result<CaseStatus, Status> {
        let mut missing = Vec::new();
        if case_no.trim().is_empty() {
            missing.push(Violation::new("case_no", "is required: the case number on the party's receipt"));
        }
        if code.trim().is_empty() {
            missing.push(Violation::new("verification_code", "is required: the code given with the case number"));
        }
        if !missing.is_empty() {
            return Err(status::invalid_argument(&missing));
        }
        let case_no = case_no.trim();
        self.lookups.check(case_no)?;
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        match store::by_case_no(&mut conn, case_no).await.map_err(status::database)? {
            Some(s) if same(&s.verification_code, &normalise(code)) => Ok(s.status),
            _ => {
                self.lookups.failed(case_no);
                Err(not_found())
            }
        }
    }

    pub(crate) async fn handle_lookup_progress(
        &self,
        _: Agency,
        r: LookupProgressRequest,
    ) -> Result<LookupProgressResponse, Status> {
        let s = self.verified(&r.case_no, &r.verification_code).await?;
        Ok(LookupProgressResponse {
            case_no: s.case_no,
            referral_state: s.referral_state,
            org_id: s.org_id,
            outcome: s.outcome,
            returned_to_sender: s.returned_to_sender,
            updated_at: s.updated_at,
        })
    }

    pub(crate) async fn handle_list_case_calls(
        &self,
        _: Agency,
        r: ListCaseCallsRequest,
    ) -> Result<ListCaseCallsResponse, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        if store::status(&mut conn, &r.case_id).await.map_err(status::database)?.is_none() {
            return Err(Status::not_found("no case with this case_id; check the id on the case page"));
        }
        drop(conn);
        let entries = crate::audit::of_case(&self.db, &r.case_id).await.map_err(status::database)?;
        let names = self.agency_names(entries.iter().map(|e| e.agency_id.as_str())).await?;
        let calls = entries
            .into_iter()
            .map(|e| CaseCall {
                agency_name: names.get(&e.agency_id).cloned().unwrap_or_default(),
                code: fengqiao_platform::grpc_trace::code_name(Code::from_i32(e.code)).to_string(),
                agency_id: e.agency_id,
                method: e.method,
                at: Some(timestamp(e.at)),
                request_id: e.request_id,
            })
            .collect();
        Ok(ListCaseCallsResponse { calls })
    }

    /// The names of `agency_ids` in the registry (an unknown one has none).
    async fn agency_names<'a>(
        &self,
        agency_ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, String>, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let mut names: HashMap<String, String> = HashMap::new();
        for id in agency_ids {
            if !names.contains_key(id) {
                let agency = store::agency(&mut conn, id).await.map_err(status::database)?;
                names.insert(id.to_string(), agency.map(|a| a.name).unwrap_or_default());
            }
        }
        Ok(names)
    }

    pub(crate) async fn handle_lookup_access(
        &self,
        _: Agency,
        r: LookupAccessRequest,
    ) -> Result<LookupAccessResponse, Status> {
        let case = self.verified(&r.case_no, &r.verification_code).await?;
        let entries = crate::audit::of_case(&self.db, &case.case_id).await.map_err(status::database)?;
        // Calls that were answered: a refused one saw nothing of the case.
        let answered: Vec<_> = entries.into_iter().filter(|e| e.code == 0).collect();
        let names = self.agency_names(answered.iter().map(|e| e.agency_id.as_str())).await?;
        let mut accesses = Vec::new();
        for e in answered {
            accesses.push(CaseAccess {
                agency_name: names[&e.agency_id].clone(),
                agency_id: e.agency_id,
                method: e.method,
                at: Some(timestamp(e.at)),
            });
        }
        Ok(LookupAccessResponse { accesses })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typing_slips_in_a_code_are_forgiven() {
        assert!(same("AB23CD45", &normalise(" ab23-cd45 ")));
        assert!(!same("AB23CD45", &normalise("AB23CD46")));
        assert!(!same("", &normalise("")), "a case without a code cannot be looked up");
    }

    #[test]
    fn a_case_number_is_refused_after_too_many_wrong_codes() {
        let throttle = Throttle::new(3);
        for _ in 0..3 {
            assert!(throttle.check("620802-2026-000001").is_ok());
            throttle.failed("620802-2026-000001");
        }
        let refused = throttle.check("620802-2026-000001").unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted);
        assert!(status::retry_after(&refused).unwrap() > Duration::from_secs(60));
        assert!(throttle.check("620802-2026-000002").is_ok());
    }
}
