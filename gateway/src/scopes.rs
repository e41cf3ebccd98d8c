//! Scopes: which calls each kind of agency may make. A call outside its
//! kind's scope is PERMISSION_DENIED, naming what the kind may do; ownership
//! of a case is checked after (another agency's case is NOT_FOUND).

use tonic::Status;

use crate::store::Agency;

/// The kinds of agency the registry knows.
pub const KINDS: [&str; 6] = ["police", "court", "petition", "organisation", "lookup", "centre"];

/// Agencies that hand disputes over (the county's mediation centre registers
/// the disputes brought to it directly: walk-ins, grid workers, the hotline).
const SENDERS: &[&str] = &["police", "court", "petition", "centre"];
/// Agencies that follow cases: the senders, and mediation organisations
/// (registered under their directory id) following the cases referred to them.
const FOLLOWERS: &[&str] = &["police", "court", "petition", "organisation", "centre"];

/// The kinds of agency that may call `method` (of AgencyService).
pub fn allowed(method: &str) -> &'static [&'static str] {
    match method {
        "SubmitDispute" | "RevokeReferral" => SENDERS,
        "GetStatus"
        | "WatchStatus"
        | "ListStatusChanges"
        | "SetCallback"
        | "GetCallback"
        | "DeleteCallback"
        | "ListCallbackDeadLetters" => FOLLOWERS,
        "LookupProgress" | "LookupAccess" => &["lookup", "centre"],
        "ListCaseCalls" => &["centre"],
        "GetCourtResult"
        | "ListConfirmations"
        | "AcceptConfirmation"
        | "ExtendConfirmationDecision"
        | "DecideConfirmation" => &["court"],
        "GetPetitionResult" | "RecordPetitionSatisfaction" | "GetPetitionRates" | "ListPetitionBacklog" => {
            &["petition"]
        }
        _ => &[],
    }
}

/// PERMISSION_DENIED unless `agency`'s kind may call `method`.
pub fn check(agency: &Agency, method: &str) -> Result<(), Status> {
    let kinds = allowed(method);
    if kinds.contains(&agency.kind.as_str()) {
        return Ok(());
    }
    Err(Status::permission_denied(format!(
        "a {} agency may not call {method}; it is for {} systems",
        agency.kind,
        if kinds.is_empty() { "no agency".to_string() } else { kinds.join(" and ") }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(kind: &str) -> Agency {
        Agency {
            agency_id: format!("{kind}-1"),
            kind: kind.into(),
            name: String::new(),
            division_code: "620802".into(),
        }
    }

    #[test]
    fn each_kind_reaches_only_its_own_calls() {
        assert!(check(&agency("police"), "SubmitDispute").is_ok());
        assert!(check(&agency("court"), "DecideConfirmation").is_ok());
        let denied = check(&agency("police"), "DecideConfirmation").unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        assert!(denied.message().contains("court"), "{}", denied.message());
        assert!(check(&agency("court"), "GetPetitionRates").is_err());
        assert!(check(&agency("petition"), "GetCourtResult").is_err());
        assert!(check(&agency("petition"), "NoSuchCall").is_err());
        assert!(check(&agency("lookup"), "LookupProgress").is_ok());
        assert!(check(&agency("lookup"), "GetStatus").is_err());
        assert!(check(&agency("police"), "LookupAccess").is_err());
        assert!(check(&agency("organisation"), "WatchStatus").is_ok());
        assert!(check(&agency("organisation"), "SubmitDispute").is_err());
        assert!(check(&agency("organisation"), "RevokeReferral").is_err());
        assert!(check(&agency("centre"), "SubmitDispute").is_ok());
        assert!(check(&agency("centre"), "LookupProgress").is_ok());
        assert!(check(&agency("centre"), "GetCourtResult").is_err());
    }
}
