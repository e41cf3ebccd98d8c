//! Sign-in through the province's identity platform, through the real
//! binary and a stand-in OpenID Connect provider on loopback: the console
//! sends the browser to the provider, trades the code (client secret, PKCE)
//! for a signed ID token, checks it, and opens a session under the console
//! account of the token's username, with that account's role and no more.
//! Everything that does not check out opens no session and says what to do.

use fengqiao_tests::console::{Browser, Page};
use fengqiao_tests::idp::{Idp, Mischief};
use fengqiao_tests::system::{Mode, System};

async fn system_with(idp: &Idp) -> System {
    let port = fengqiao_tests::free_ports(1)[0];
    let settings = idp.console_settings(port);
    let extra: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    System::start_with(Mode::Standalone, &extra).await.unwrap()
}

/// The person at the provider's page: follows the provider's redirect back to the console's callback.
async fn at_the_provider(authorize: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client.get(authorize).send().await.expect("the provider answers");
    assert_eq!(response.status().as_u16(), 303, "the provider sends the browser back");
    response.headers()["location"].to_str().unwrap().to_string()
}

/// Starts a sign-in in `browser`; the callback URL the provider answers with.
async fn through_the_provider(browser: &mut Browser) -> String {
    let started = browser.get("/login/oidc").await;
    assert_eq!(started.status, 303, "{}", started.html);
    assert!(started.set_cookies.iter().any(|c| c.starts_with("fq_oidc_state=") && c.contains("SameSite=Lax")));
    let authorize = started.location.expect("to the provider");
    for part in ["code_challenge_method=S256", "code_challenge=", "nonce=", "state=", "client_id=fengqiao-console"] {
        assert!(authorize.contains(part), "{authorize}");
    }
    at_the_provider(&authorize).await
}

fn opened_a_session(page: &Page) -> bool {
    page.set_cookies.iter().any(|c| c.starts_with("fq_session=") && !c.starts_with("fq_session=;"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mediator_signs_in_through_the_identity_platform_and_works_as_their_console_account() {
    let idp = Idp::start().await;
    let system = system_with(&idp).await;
    let added = system.cli(&[
        "accounts",
        "add",
        "zhang.san",
        "--role",
        "mediator",
        "--org",
        "village-620802001001",
        "--name",
        "张三",
        "--sso-only",
    ]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert!(added.stdout.is_empty(), "an account of the identity platform only has no password to print");

    let mut browser = Browser::new(&system);
    let login = browser.get("/login").await;
    assert!(login.html.contains("id=\"oidc\"") && login.html.contains("统一身份认证平台"), "{}", login.html);

    idp.sign_in_as("zhang.san");
    let callback = through_the_provider(&mut browser).await;
    let landed = browser.follow(&callback).await;
    assert_eq!(landed.status, 200, "{}", landed.html);
    assert!(opened_a_session(&landed), "{:?}", landed.set_cookies);
    assert!(landed.html.contains("url=/inbox"), "the page moves on to the inbox by itself: {}", landed.html);
    assert_eq!(idp.tokens_issued(), 1);

    let inbox = browser.get("/inbox").await;
    assert_eq!(inbox.status, 200, "{}", inbox.html);
    assert!(inbox.html.contains("张三 (mediator)"), "{}", inbox.html);
    assert!(!inbox.html.contains("href=\"/accounts\""), "a mediator is no administrator, whoever the provider says");

    // The callback is good once: the state was used.
    let replayed = browser.follow(&callback).await;
    assert_eq!(replayed.status, 401, "{}", replayed.html);
    assert!(replayed.html.contains("已超时、已使用过"), "{}", replayed.html);
    assert!(!opened_a_session(&replayed));

    // No password opens this account.
    let mut other = Browser::new(&system);
    let refused = other.post("/login", &[("username", "zhang.san"), ("password", "")]).await;
    assert_eq!(refused.status, 401, "{}", refused.html);
    system.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_platform_answers_that_do_not_check_out_open_no_session() {
    let idp = Idp::start().await;
    let system = system_with(&idp).await;

    // Confirmed by the provider, but the console has no account of that name.
    idp.sign_in_as("li.si");
    let mut browser = Browser::new(&system);
    let callback = through_the_provider(&mut browser).await;
    let page = browser.follow(&callback).await;
    assert_eq!(page.status, 403, "{}", page.html);
    assert!(page.html.contains("请联系管理员开通"), "{}", page.html);
    assert!(!opened_a_session(&page));

    // A demo account exists; the provider now misbehaves in turn.
    idp.sign_in_as("village-mediator");
    for (mischief, why) in [
        (Mischief::UnpublishedKey, "a token signed with a key the provider does not publish"),
        (Mischief::WrongNonce, "a token of another sign-in"),
        (Mischief::OtherAudience, "a token for another client"),
    ] {
        idp.misbehave(mischief);
        let mut browser = Browser::new(&system);
        let callback = through_the_provider(&mut browser).await;
        let page = browser.follow(&callback).await;
        assert_eq!(page.status, 401, "{why}: {}", page.html);
        assert!(page.html.contains("未通过校验"), "{why}: {}", page.html);
        assert!(!opened_a_session(&page), "{why}");
        assert_eq!(browser.get("/inbox").await.status, 303, "{why}: no session");
    }
    idp.misbehave(Mischief::None);

    // A callback followed in another browser than the one that started it (login CSRF).
    let mut starter = Browser::new(&system);
    let callback = through_the_provider(&mut starter).await;
    let mut victim = Browser::new(&system);
    let page = victim.follow(&callback).await;
    assert_eq!(page.status, 401, "{}", page.html);
    assert!(!opened_a_session(&page));
    // The browser that started it still can: the state was not spent by the refusal.
    let page = starter.follow(&callback).await;
    assert_eq!(page.status, 200, "{}", page.html);
    assert!(opened_a_session(&page));

    // The person cancels at the provider.
    let mut browser = Browser::new(&system);
    let page = browser.get("/login/oidc/callback?error=access_denied&state=x").await;
    assert_eq!(page.status, 401, "{}", page.html);
    assert!(page.html.contains("没有确认这次登录"), "{}", page.html);
    system.finish().await;
}
