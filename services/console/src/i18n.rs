//! The console's words, zh-CN first with English: one table, looked up by key
//! from the templates as `t.<key>`. A unit test checks that every key a
//! template uses is here.

use std::collections::BTreeMap;

/// A language of the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese (the default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// The language a request asks for: `?lang=`, else the `lang` cookie, else zh-CN.
    pub fn pick(query: Option<&str>, cookie: Option<&str>) -> Lang {
        match query.or(cookie) {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The code for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
}

/// key, zh-CN, English.
const WORDS: &[(&str, &str, &str)] = &[
    ("app", "枫桥 · 矛盾纠纷多元化解平台", "fengqiao · dispute resolution"),
    ("skip", "跳到正文", "Skip to content"),
    ("sign_in", "登录", "Sign in"),
    ("sign_out", "退出", "Sign out"),
    ("username", "用户名", "Username"),
    ("password", "密码", "Password"),
    ("signed_in_as", "当前用户", "Signed in as"),
    (
        "bad_credentials",
        "用户名或密码不对。请重新输入；忘记密码请联系管理员重置。",
        "Wrong username or password. Try again; if you forgot your password, ask an administrator to reset it.",
    ),
    (
        "too_many_tries",
        "登录失败次数过多，请 15 分钟后再试，或联系管理员。",
        "Too many failed sign-ins: try again in 15 minutes, or ask an administrator.",
    ),
    ("session_over", "登录已过期，请重新登录。", "Your session has ended; please sign in again."),
    ("inbox", "收案箱", "Inbox"),
    ("inbox_of", "本组织收到的转办案件", "Referrals to this organisation"),
    ("no_items", "没有符合条件的案件。", "No referrals match."),
    ("filter", "筛选", "Filter"),
    ("all_states", "全部状态", "All states"),
    ("case_no", "案件编号", "Case number"),
    ("category", "纠纷类型", "Category"),
    ("state", "状态", "State"),
    ("risk", "风险等级", "Risk"),
    ("received_at", "收案时间", "Received"),
    ("due", "办理期限", "Due"),
    ("clock_red", "已超期", "overdue"),
    ("clock_amber", "即将到期", "due soon"),
    ("clock_green", "期限内", "in time"),
    ("clock_none", "未计时", "no clock"),
    ("open", "查看", "Open"),
    ("case", "案件", "Case"),
    ("narrative", "纠纷简要情况", "What happened"),
    ("parties", "当事人", "Parties"),
    ("sender", "移送单位", "Sent by"),
    ("outcome", "调解结果", "Outcome"),
    ("summary", "情况说明", "Summary"),
    ("mediators", "调解员", "Mediators"),
    ("sessions", "调解记录", "Sessions"),
    ("actions", "办理", "Actions"),
    ("accept", "受理", "Accept"),
    ("reject", "不予受理", "Reject"),
    ("reason", "理由", "Reason"),
    ("start", "开始调解", "Start mediation"),
    ("conclude", "办结", "Conclude"),
    ("agreement_terms", "协议内容（每行一条）", "Agreement terms (one per line)"),
    ("amount_yuan", "涉及金额（元）", "Amount (yuan)"),
    ("performance_deadline", "履行期限", "Performance deadline"),
    ("done", "已办理。", "Done."),
    (
        "not_found",
        "找不到这个案件，或者它不属于本组织。请回到收案箱重新选择。",
        "No such referral in your organisation. Go back to the inbox and choose again.",
    ),
    (
        "forbidden",
        "您的角色不能办理这一步。如需办理，请联系本组织负责人。",
        "Your role cannot take this step; ask your organisation's head.",
    ),
    ("unavailable", "系统暂时繁忙或正在恢复，请稍后重试。", "The system is busy or recovering; try again in a moment."),
    ("fix_fields", "请修改以下内容后重新提交：", "Correct these and submit again:"),
    ("progress", "案件进度查询", "Case progress"),
    (
        "progress_intro",
        "请输入受理回执上的案件编号和查询码。",
        "Enter the case number and the verification code on your receipt.",
    ),
    ("verification_code", "查询码", "Verification code"),
    ("look_up", "查询", "Look up"),
    ("handled_by", "办理组织", "Handled by"),
    ("updated_at", "最近更新", "Last change"),
    ("next_step", "下一步", "Next step"),
    ("returned", "已退回移送单位", "Returned to the sender"),
    (
        "lookup_failed",
        "案件编号或查询码不对，请核对回执后重试。",
        "The case number or code is wrong; check your receipt and try again.",
    ),
    ("lookup_throttled", "查询过于频繁，请稍后再试。", "Too many tries; wait a while and try again."),
    ("language", "English", "中文"),
    ("csrf", "页面已过期，请刷新后重试。", "This page has expired; reload it and try again."),
];

/// The words of `lang`, by key.
pub fn words(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS.iter().map(|(k, zh, en)| (*k, if lang == Lang::Zh { *zh } else { *en })).collect()
}

/// The name of a referral state in `lang`.
pub fn state_name(state: i32, lang: Lang) -> &'static str {
    const NAMES: [(&str, &str); 11] = [
        ("待分流", "routing"),
        ("待签收", "requested"),
        ("已签收", "received"),
        ("已受理", "accepted"),
        ("不予受理", "rejected"),
        ("调解中", "in progress"),
        ("暂停", "on hold"),
        ("已办结", "completed"),
        ("未能办结", "failed"),
        ("已撤回", "cancelled"),
        ("未知", "unknown"),
    ];
    let (zh, en) = NAMES[usize::try_from(state).unwrap_or(10).min(10)];
    if lang == Lang::Zh {
        zh
    } else {
        en
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_a_template_uses_is_translated() {
        let zh = words(Lang::Zh);
        for (name, text) in crate::views::TEMPLATES {
            for piece in text.split("{{ t.").skip(1) {
                let key: String = piece.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(zh.contains_key(key.as_str()), "{name} uses t.{key}, which has no words");
            }
        }
        assert_eq!(words(Lang::En).len(), zh.len());
    }

    #[test]
    fn the_language_follows_the_query_then_the_cookie() {
        assert_eq!(Lang::pick(Some("en"), Some("zh-CN")), Lang::En);
        assert_eq!(Lang::pick(None, Some("en")), Lang::En);
        assert_eq!(Lang::pick(None, None), Lang::Zh);
        assert_eq!(state_name(7, Lang::Zh), "已办结");
        assert_eq!(state_name(99, Lang::En), "unknown");
    }
}
