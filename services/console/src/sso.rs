//! The sign-in pages of the province's identity platform: `/login/oidc`
//! sends the browser there, `/login/oidc/callback` brings it back signed in
//! (see [`crate::oidc`] for the protocol).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderMap, StatusCode};
use minijinja::context;
use serde::Deserialize;

use crate::app::App;
use crate::i18n::{words, Lang};
use crate::oidc::{self, OidcError};
use crate::pages::{lang_of, login_html, page, with_new_session, Common};
use crate::sessions;
use crate::views::{render, Frame};

/// The provider's answer on the callback.
#[derive(Deserialize, Default)]
pub(crate) struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The sign-in page again, saying what went wrong (`key`) and what to do.
fn refused(app: &App, lang: Lang, status: StatusCode, key: &str) -> Response {
    let frame = Frame { error: Some(words(lang)[key].to_string()), ..Default::default() };
    let mut response = page(status, login_html(app, lang, &frame, ""), &Common::default());
    response.headers_mut().append(http::header::SET_COOKIE, oidc::cleared_state_cookie().parse().expect("a cookie"));
    response
}

fn status_of(e: &OidcError) -> StatusCode {
    match e {
        OidcError::Provider(_) | OidcError::Database(_) => StatusCode::SERVICE_UNAVAILABLE,
        OidcError::Stale | OidcError::Refused(_) | OidcError::BadToken(_) => StatusCode::UNAUTHORIZED,
    }
}

/// Sends the browser to the provider, with this sign-in's state in a cookie.
pub(crate) async fn begin(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = lang_of(&headers, &Common::default());
    let Some(provider) = app.oidc.as_ref() else { return Redirect::to("/login").into_response() };
    match provider.begin(&app.db).await {
        Ok(begun) => {
            let mut response = Redirect::to(&begun.location).into_response();
            let cookie = oidc::state_cookie(&begun.state, app.secure_cookies);
            response.headers_mut().append(http::header::SET_COOKIE, cookie.parse().expect("a cookie"));
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a sign-in at the identity platform");
            refused(&app, lang, status_of(&e), e.word_key())
        }
    }
}

/// Finishes the sign-in: the provider's code for an ID token, its username
/// for the console's account of that name, and a session. Answers with a
/// page that moves on to the inbox: the session cookie is `SameSite=Strict`,
/// and a browser sends it only on a navigation that starts on the console,
/// not on a redirect that began at the provider.
pub(crate) async fn callback(State(app): State<Arc<App>>, headers: HeaderMap, Query(q): Query<Callback>) -> Response {
    let lang = lang_of(&headers, &Common::default());
    let Some(provider) = app.oidc.as_ref() else { return Redirect::to("/login").into_response() };
    let cookie_state = sessions::cookie_value(&headers, oidc::STATE_COOKIE);
    let username = match (q.error, q.code) {
        (Some(error), _) => Err(OidcError::Refused(error)),
        (None, Some(code)) => provider.finish(&app.db, q.state.as_deref().unwrap_or(""), cookie_state, &code).await,
        (None, None) => Err(OidcError::Refused("no code".into())),
    };
    let username = match username {
        Ok(username) => username,
        Err(e) => {
            tracing::warn!(error = %e, "a sign-in through the identity platform failed");
            app.audit("", "sign_in_oidc", "", e.outcome()).await;
            return refused(&app, lang, status_of(&e), e.word_key());
        }
    };
    let account = match crate::accounts::find(&app.db, &username).await {
        Ok(account) => account,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read console accounts");
            return refused(&app, lang, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        }
    };
    let Some((staff, _)) = account else {
        app.audit(&username, "sign_in_oidc", "", "no account").await;
        return refused(&app, lang, StatusCode::FORBIDDEN, "oidc_no_account");
    };
    let html = render(&app.templates, "signed_in.html", lang, &Frame::default(), context! {});
    let mut moving_on = page(StatusCode::OK, html, &Common::default());
    moving_on.headers_mut().append(http::header::SET_COOKIE, oidc::cleared_state_cookie().parse().expect("a cookie"));
    let Some(response) = with_new_session(&app, &staff, moving_on).await else {
        return refused(&app, lang, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    };
    app.audit(&staff.username, "sign_in_oidc", "", "ok").await;
    response
}
