//! The pages' templates (server-rendered HTML, escaped by minijinja) and what
//! every page shows: the language, the words, who is signed in.

use minijinja::{Environment, Value};
use serde::Serialize;

use crate::accounts::Staff;
use crate::i18n::{words, Lang};

/// Every template, by name.
pub const TEMPLATES: [(&str, &str); 15] = [
    ("layout.html", include_str!("../templates/layout.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("inbox.html", include_str!("../templates/inbox.html")),
    ("referral.html", include_str!("../templates/referral.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("receipt.html", include_str!("../templates/receipt.html")),
    ("progress.html", include_str!("../templates/progress.html")),
    ("alarms.html", include_str!("../templates/alarms.html")),
    ("dashboard.html", include_str!("../templates/dashboard.html")),
    ("accounts.html", include_str!("../templates/accounts.html")),
    ("subsidy.html", include_str!("../templates/subsidy.html")),
    ("directory.html", include_str!("../templates/directory.html")),
    ("supervision.html", include_str!("../templates/supervision.html")),
    ("signed_in.html", include_str!("../templates/signed_in.html")),
];

/// The style sheet.
pub const CSS: &str = include_str!("../templates/console.css");

/// The one script: fills the counter form's position from the phone (the form works without it).
pub const POSITION_JS: &str = include_str!("../templates/position.js");

/// The templates, loaded once.
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, text) in TEMPLATES {
        env.add_template(name, text).expect("the console's templates parse");
    }
    env
}

/// A field and what is wrong with it, shown beside an error.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// The field.
    pub field: String,
    /// What is wrong and what to do.
    pub description: String,
}

/// What every page carries.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Who is signed in.
    pub staff: Option<Staff>,
    /// The form token of the session.
    pub csrf: String,
    /// A message that something was done.
    pub notice: Option<String>,
    /// A message that something went wrong, and what to do.
    pub error: Option<String>,
    /// Field-level problems of the error.
    pub violations: Vec<Problem>,
}

#[derive(Serialize)]
struct StaffView<'a> {
    display_name: &'a str,
    role: &'a str,
    org_id: &'a str,
}

/// Renders `template` with the page's own `page` values and the frame.
pub fn render(env: &Environment<'static>, template: &str, lang: Lang, frame: &Frame, page: Value) -> String {
    let staff = frame.staff.as_ref().map(|s| StaffView {
        display_name: &s.display_name,
        role: s.role.name(),
        org_id: &s.org_id,
    });
    let other = if lang == Lang::Zh { "en" } else { "zh" };
    let common = minijinja::context! {
        lang => lang.code(),
        other_lang => other,
        t => words(lang),
        staff => staff,
        csrf => frame.csrf,
        notice => frame.notice,
        error => frame.error,
        violations => frame.violations,
    };
    let ctx = minijinja::context! { ..page, ..common };
    env.get_template(template)
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(template, error = %e, "a console page failed to render");
            "<!doctype html><title>error</title><p>This page could not be shown; reload it, and tell the operator if it persists.</p>".into()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_render_in_both_languages_and_escape_what_they_show() {
        let env = environment();
        let frame = Frame { error: Some("<script>x</script>".into()), ..Default::default() };
        let zh = render(&env, "login.html", Lang::Zh, &frame, minijinja::context! { username => "a\"b" });
        assert!(zh.contains("<html lang=\"zh-CN\">") && zh.contains("登录"), "{zh}");
        assert!(!zh.contains("<script>x"), "error text is escaped");
        assert!(zh.contains("a&quot;b"), "values are escaped");
        let en = render(&env, "login.html", Lang::En, &Frame::default(), minijinja::context! {});
        assert!(en.contains("Sign in") && en.contains("href=\"?lang=zh\""), "{en}");
    }
}
