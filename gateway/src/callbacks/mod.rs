//! Callbacks: an agency registers one URL that receives its status changes
//! as signed HTTP POSTs (see `deliver` and `signature`); the calls that
//! manage it, and ListStatusChanges, the polling read of the same changes.

pub mod deliver;
pub mod signature;
pub mod store;

use fengqiao_platform::db::{now_micros, timestamp};
use fengqiao_platform::status::{self, Violation};
use fengqiao_proto::fengqiao::gateway::v1::*;
use tonic::Status;

use crate::agency::AgencyApi;
use crate::store::Agency;

/// The longest callback URL accepted.
const MAX_URL_LEN: usize = 2048;

/// A status cursor from `text` (empty is the start); INVALID_ARGUMENT on `field` otherwise.
pub(crate) fn parse_cursor(text: &str, field: &str) -> Result<i64, Status> {
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<i64>().ok().filter(|c| *c >= 0).ok_or_else(|| {
        status::invalid_argument(&[Violation::new(field, "is not a cursor fengqiao gave; start again without one")])
    })
}

/// The callback URL if acceptable: absolute https (or http where allowed), with a host and no user or password.
fn check_url(url: &str, allow_http: bool) -> Result<String, Status> {
    let bad = |why: &str| status::invalid_argument(&[Violation::new("url", why)]);
    if url.len() > MAX_URL_LEN {
        return Err(bad("is longer than 2048 characters"));
    }
    let parsed =
        reqwest::Url::parse(url.trim()).map_err(|_| bad("is not an absolute URL such as https://host/path"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(bad("must be https:// (this gateway does not post to plain http)")),
        _ => return Err(bad("must be https://")),
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry a user name or password; authenticate the posts by their signature"));
    }
    Ok(parsed.to_string())
}

fn view(s: &store::Stored, dead_letters: i64) -> Callback {
    Callback {
        url: s.url.clone(),
        delivered_cursor: s.delivered_seq.to_string(),
        failed_attempts: s.attempts as u32,
        last_error: s.last_error.clone(),
        next_attempt_at: (s.attempts > 0).then(|| timestamp(s.next_at)),
        dead_letters: dead_letters as u32,
    }
}

fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl AgencyApi {
    pub(crate) async fn handle_list_status_changes(
        &self,
        agency: Agency,
        r: ListStatusChangesRequest,
    ) -> Result<ListStatusChangesResponse, Status> {
        let after = parse_cursor(&r.cursor, "cursor")?;
        let size = match r.page_size {
            0 => 100,
            n => n.min(1000),
        };
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let page = crate::store::log_after(&mut conn, &agency.agency_id, after, size as i64)
            .await
            .map_err(status::database)?;
        let next_cursor = page.last().map_or(after, |(seq, _)| *seq).to_string();
        let changes =
            page.into_iter().map(|(seq, status)| StatusChange { status: Some(status), cursor: seq.to_string() });
        Ok(ListStatusChangesResponse { changes: changes.collect(), next_cursor })
    }

    pub(crate) async fn handle_set_callback(
        &self,
        agency: Agency,
        r: SetCallbackRequest,
    ) -> Result<SetCallbackResponse, Status> {
        let url = check_url(&r.url, self.settings.callback_allow_http)?;
        let after = (!r.after_cursor.is_empty()).then(|| parse_cursor(&r.after_cursor, "after_cursor")).transpose()?;
        let mut tx = self.db.begin().await.map_err(status::database)?;
        let existing = store::get(&mut tx, &agency.agency_id).await.map_err(status::database)?;
        let (stored, secret) = match existing {
            None => {
                let delivered_seq = match after {
                    Some(seq) => seq,
                    None => store::latest_seq(&mut tx, &agency.agency_id).await.map_err(status::database)?,
                };
                let secret = new_secret();
                let stored = store::Stored {
                    agency_id: agency.agency_id.clone(),
                    url,
                    secret: secret.clone(),
                    delivered_seq,
                    attempts: 0,
                    last_error: String::new(),
                    next_at: 0,
                };
                store::create(&mut tx, &stored, now_micros()).await.map_err(status::database)?;
                (stored, secret)
            }
            Some(mut stored) => {
                let secret = if r.rotate_secret { new_secret() } else { String::new() };
                if r.rotate_secret {
                    stored.secret = secret.clone();
                }
                stored.url = url;
                stored.delivered_seq = after.unwrap_or(stored.delivered_seq);
                stored.attempts = 0;
                stored.last_error.clear();
                store::replace(&mut tx, &stored).await.map_err(status::database)?;
                (stored, secret)
            }
        };
        let dead = store::dead_letter_count(&mut tx, &agency.agency_id).await.map_err(status::database)?;
        tx.commit().await.map_err(status::database)?;
        self.changed.notify_waiters();
        Ok(SetCallbackResponse { callback: Some(view(&stored, dead)), secret })
    }

    pub(crate) async fn handle_get_callback(
        &self,
        agency: Agency,
        _: GetCallbackRequest,
    ) -> Result<GetCallbackResponse, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let stored = store::get(&mut conn, &agency.agency_id)
            .await
            .map_err(status::database)?
            .ok_or_else(|| Status::not_found("your agency has no callback; register one with SetCallback"))?;
        let dead = store::dead_letter_count(&mut conn, &agency.agency_id).await.map_err(status::database)?;
        Ok(GetCallbackResponse { callback: Some(view(&stored, dead)) })
    }

    pub(crate) async fn handle_delete_callback(
        &self,
        agency: Agency,
        _: DeleteCallbackRequest,
    ) -> Result<DeleteCallbackResponse, Status> {
        let mut conn = self.db.writer().acquire().await.map_err(status::database)?;
        if !store::delete(&mut conn, &agency.agency_id).await.map_err(status::database)? {
            return Err(Status::not_found("your agency has no callback"));
        }
        Ok(DeleteCallbackResponse {})
    }

    pub(crate) async fn handle_list_callback_dead_letters(
        &self,
        agency: Agency,
        _: ListCallbackDeadLettersRequest,
    ) -> Result<ListCallbackDeadLettersResponse, Status> {
        let mut conn = self.db.pool().acquire().await.map_err(status::database)?;
        let dead = store::dead_letters(&mut conn, &agency.agency_id, 100).await.map_err(status::database)?;
        let dead_letters = dead
            .into_iter()
            .map(|d| CallbackDeadLetter {
                after_cursor: d.after_seq.to_string(),
                last_cursor: d.last_seq.to_string(),
                url: d.url,
                last_error: d.last_error,
                attempts: d.attempts as u32,
                dead_at: Some(timestamp(d.dead_at)),
            })
            .collect();
        Ok(ListCallbackDeadLettersResponse { dead_letters })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_url_must_be_https_with_a_host_and_no_password() {
        assert!(check_url("https://agency.example/hooks/fengqiao", false).is_ok());
        for (url, allow_http) in [
            ("http://agency.example/hook", false),
            ("ftp://agency.example/hook", false),
            ("/relative/path", false),
            ("https://user:pw@agency.example/hook", false),
            ("file:///etc/passwd", true),
        ] {
            let e = check_url(url, allow_http).unwrap_err();
            assert_eq!(e.code(), tonic::Code::InvalidArgument, "{url}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
    }

    #[test]
    fn a_cursor_is_a_non_negative_number_or_empty() {
        assert_eq!(parse_cursor("", "cursor").unwrap(), 0);
        assert_eq!(parse_cursor("42", "cursor").unwrap(), 42);
        assert!(parse_cursor("-1", "cursor").is_err());
        assert!(parse_cursor("abc", "cursor").is_err());
    }
}
