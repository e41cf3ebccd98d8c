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
    (
        "sso_only",
        "只通过统一身份认证登录（不设密码）",
        "Signs in through the identity platform only (no password)",
    ),
    ("dispute_place", "发生地点", "Where it arose"),
    ("point", "位置（经纬度）", "Position (degrees)"),
    (
        "point_help",
        "网格员在现场可点“使用手机定位”；也可手工填写经纬度（WGS 84），或留空——所附照片带定位信息时取自照片。",
        "In the field, press “Use this phone's position”; or type the degrees (WGS 84), or leave them empty — a photo's GPS data is used when it has some.",
    ),
    ("locate", "使用手机定位", "Use this phone's position"),
    ("locating", "正在定位…", "Finding the position…"),
    ("located", "已取得手机定位。", "Position taken from the phone."),
    (
        "locate_failed",
        "无法取得手机定位（未允许或无信号）。请手工填写经纬度，或留空。",
        "The phone's position is not available (not allowed, or no signal). Type the degrees, or leave them empty.",
    ),
    ("latitude", "纬度（北纬为正）", "Latitude (north positive)"),
    ("longitude", "经度（东经为正）", "Longitude (east positive)"),
    ("invitations", "联合调解邀请", "Invitations to mediate jointly"),
    ("led_by", "牵头组织", "led by"),
    ("join", "加入联合调解", "Join the mediation"),
    ("decline", "谢绝", "Decline"),
    ("decline_reason", "谢绝理由", "Why you decline"),
    ("joint_tag", "联合调解", "joint"),
    ("joint_mediation", "联合调解", "Joint mediation"),
    ("joint_invited", "已邀请，待答复", "invited, no answer yet"),
    ("joint_joined", "已加入", "joined"),
    ("joint_declined", "已谢绝", "declined"),
    ("invite", "邀请联合调解", "Invite to mediate jointly"),
    ("invite_reason", "邀请理由（为何需要联合调解）", "Why a joint mediation is needed"),
    ("confirmation", "司法确认", "Judicial confirmation"),
    ("confirmation_window", "申请截止日", "Apply by"),
    ("court", "人民法院", "Court"),
    ("confirm_none", "尚未申请", "not applied for"),
    ("confirm_applied", "已申请，待法院受理", "applied for; the court accepts within 3 days"),
    ("confirm_accepted", "法院已受理，待裁定", "accepted; the court decides within 15 days"),
    ("confirm_valid", "已确认有效，可申请强制执行", "confirmed valid: enforceable"),
    ("confirm_rejected", "法院裁定驳回", "rejected by the court"),
    ("apply_confirmation", "申请司法确认", "Apply for judicial confirmation"),
    (
        "apply_confirmation_help",
        "双方当事人应自协议生效之日起三十日内共同申请；婚姻、收养、身份关系的协议不能司法确认。",
        "The parties apply jointly within 30 days of the agreement; agreements on marriage, adoption or identity status cannot be confirmed.",
    ),
    ("all_consent", "各方当事人均已签署共同申请", "Every party has signed the joint application"),
    ("personal_status", "协议涉及婚姻、收养或身份关系", "The agreement concerns marriage, adoption or identity status"),
    ("summons", "吹哨报到（部门协办）", "Joint summons (departments' assistance)"),
    ("no_summons", "本案尚未吹哨。", "No department has been summoned for this case."),
    ("department", "部门", "Department"),
    ("departments", "被吹哨部门", "Departments to summon"),
    (
        "departments_help",
        "部门编号，多个用逗号或空格分隔，如 natural-resources-620802 civil-affairs-620802。",
        "Department ids separated by commas or spaces, e.g. natural-resources-620802 civil-affairs-620802.",
    ),
    ("summons_request", "协办事项", "What is asked"),
    ("response_hours", "答复时限（小时，1–720）", "Hours to answer (1–720)"),
    ("summon", "吹哨", "Summon"),
    ("summons_answer", "部门答复", "The department's answer"),
    ("record_summons_answer", "登记部门答复", "Record the answer"),
    ("summons_overdue", "逾期未答复", "overdue"),
    ("summons_by_department", "各部门吹哨报到响应", "Joint summons by department"),
    ("summons_requested", "被吹哨次数", "Summoned"),
    ("summons_in_time", "按期答复", "Answered in time"),
    ("story_calls", "各机关调用记录（网关审计日志）", "Agencies' calls about the case (the gateway's audit log)"),
    ("case_file", "卷宗", "Case file"),
    ("case_subsidy", "以案定补", "Per-case subsidy"),
    ("file_complete", "卷宗材料齐全。", "The case file is complete."),
    ("file_missing", "卷宗尚缺：", "The case file still lacks: "),
    ("document_kind", "材料类别", "Kind of document"),
    ("document_title", "材料名称", "Title"),
    ("document_fingerprint", "类型 · 大小 · 指纹", "Type · size · fingerprint"),
    ("added_at", "归档时间", "Added"),
    ("derived", "系统生成", "from fengqiao's records"),
    ("subsidy_tier", "难度等级", "tier"),
    ("not_paid_yet", "暂不发放", "not paid yet"),
    ("add_document", "归档材料", "Add a document"),
    ("document_file", "选择文件", "File"),
    (
        "document_help",
        "只登记文件名、类型、大小和指纹（SHA-256），文件本身不上传；原件由本组织保管。名称不填则用文件名。",
        "Only the file's name, type, size and fingerprint (SHA-256) are kept; the file itself stays with your organisation. Without a title, the file name is used.",
    ),
    (
        "joined_note",
        "本组织参与联合调解：可安排、记录调解会和归档材料；受理、结案等由牵头组织办理。",
        "Your organisation takes part in this joint mediation: plan and record sessions and file documents; the lead organisation accepts and concludes.",
    ),
    ("subsidy_needs_agreement", "仅对调解达成协议的案件发放", "paid only for a mediation concluded with an agreement"),
    ("subsidy_needs_performance", "协议记录为已履行后发放", "paid once the agreement is recorded as performed"),
    ("subsidy_needs_file", "卷宗齐全后发放（见卷宗尚缺）", "paid once the case file is complete (see what it lacks)"),
    ("sign_in_with", "使用统一身份认证登录：", "Sign in with "),
    ("or_password", "或使用本系统账号密码登录", "or with a console password"),
    ("signed_in_continue", "已登录，正在进入收案箱。", "Signed in; opening the inbox."),
    ("continue", "继续", "Continue"),
    (
        "oidc_provider",
        "暂时无法连接统一身份认证平台。请一分钟后重试，或使用本系统账号密码登录。",
        "The identity platform cannot be reached. Try again in a minute, or sign in with a console password.",
    ),
    (
        "oidc_stale",
        "这次登录已超时、已使用过或不是在本浏览器发起的。请重新点击统一身份认证登录。",
        "This sign-in took too long, was used already or was started in another browser. Start it again.",
    ),
    (
        "oidc_refused",
        "统一身份认证平台没有确认这次登录（可能已取消）。请重新登录。",
        "The identity platform did not confirm the sign-in (perhaps it was cancelled). Sign in again.",
    ),
    (
        "oidc_bad_token",
        "统一身份认证平台的应答未通过校验。请重新登录；如反复出现，请联系管理员。",
        "The identity platform's answer did not check out. Sign in again; if it repeats, tell the administrator.",
    ),
    (
        "oidc_no_account",
        "身份已确认，但本系统没有对应的账号或账号已停用。请联系管理员开通（账号名须与统一身份认证的用户名一致）。",
        "Your identity is confirmed, but no active console account has your name. Ask an administrator to add one (named as on the identity platform).",
    ),
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
    (
        "conflict",
        "这一步现在不能办理：案件已经有了新的进展。请回到收案箱刷新后再看。",
        "This step cannot be taken now: the case has moved on. Go back to the inbox and look again.",
    ),
    (
        "failed",
        "系统出错，这一步没有办理。请稍后重试；仍然不行请联系系统管理员。",
        "Something went wrong and the step was not taken. Try again later; if it goes on, tell the administrator.",
    ),
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
    ("register", "登记纠纷", "Register a dispute"),
    ("register_intro", "来访、网格员上报或热线来电的纠纷在此登记；登记后系统自动分派给调解组织。", "Register a dispute brought by a visitor, a grid worker or the hotline; it is handed to a mediation organisation at once."),
    ("source", "来源", "Source"),
    ("division_code", "发生地行政区划代码", "Division code of the place"),
    ("grid_id", "网格编号（网格员上报时必填）", "Grid (required for a grid worker's report)"),
    ("address", "详细地址", "Address"),
    ("applicant", "申请人姓名", "Applicant's name"),
    ("applicant_phone", "申请人电话", "Applicant's phone"),
    ("respondent", "被申请人姓名", "Respondent's name"),
    ("registered", "已登记。请把案件编号和查询码交给申请人。", "Registered. Give the applicant the case number and the verification code."),
    ("receipt", "受理回执", "Receipt"),
    ("reference", "登记编号", "Registration reference"),
    ("print", "打印回执", "Print the receipt"),
    ("alarms", "预警督办", "Alarms"),
    ("no_alarms", "当前没有未处理的预警。", "No open alarms."),
    ("alarm_kind", "预警类型", "Kind"),
    ("detail", "说明", "Detail"),
    ("raised_at", "发出时间", "Raised"),
    ("dashboard", "统计看板", "Figures"),
    ("period", "统计期（如 2026-12 或 2026-Q4）", "Period (2026-12 or 2026-Q4)"),
    ("group_by", "分组", "Group by"),
    ("by_township", "按乡镇（街道）", "by township"),
    ("by_organisation", "按调解组织", "by organisation"),
    ("registered_count", "受理数", "Registered"),
    ("concluded_count", "办结数", "Concluded"),
    ("agreements", "调解成功数", "Agreements"),
    ("success_rate", "调处成功率", "Success rate"),
    ("timeliness", "按期办结率", "On time"),
    ("village_share", "村级化解占比", "Resolved at village level"),
    ("township_share", "乡镇级化解占比", "Resolved at township level"),
    ("summons_rate", "吹哨报到按期响应率", "Joint summons answered on time"),
    ("ranking", "排名", "Ranking"),
    ("rank", "名次", "Rank"),
    ("unit", "单位", "Unit"),
    ("net_rate", "净化解率", "Net resolution rate"),
    ("agreement_document", "调解协议书（SHA-256）", "Agreement document (SHA-256)"),
    ("story_referrals", "分派经过", "Hand-offs"),
    ("story_clocks", "办理时限", "Clocks"),
    ("story_lineage", "关联案件", "Linked cases"),
    ("story_audit", "操作记录", "Actions in the console"),
    ("accounts", "账号管理", "Accounts"),
    ("add_account", "新增账号", "Add an account"),
    ("display_name", "姓名", "Name"),
    ("role", "角色", "Role"),
    ("organisation", "所在组织", "Organisation"),
    ("jurisdiction", "督办辖区（区划代码前缀）", "Jurisdiction (division-code prefix)"),
    ("disable", "停用", "Disable"),
    ("disabled", "已停用", "disabled"),
    ("password_once", "初始密码只显示这一次，请当面交给本人：", "The password is shown this once; hand it to its owner in person:"),
    ("subsidy", "以案定补结算", "Subsidy statement"),
    ("month", "月份（如 2026-12）", "Month (2026-12)"),
    ("subsidy_cases", "案件数", "Cases"),
    ("subsidy_total", "补贴金额（元）", "Amount (yuan)"),
    ("tier", "难度等级", "Tier"),
    ("place", "调解地点", "Place"),
    ("session_record", "调解笔录", "Record of the session"),
    ("record_session", "记录本次调解", "Record this session"),
    ("progress_off", "进度查询暂未开通，请联系调解中心。", "Progress look-up is not set up; ask the mediation centre."),
    ("csrf", "页面已过期，请刷新后重试。", "This page has expired; reload it and try again."),
    ("assign", "指派调解员", "Assign mediators"),
    ("lead_mediator", "主调解员", "Lead mediator"),
    ("co_mediators", "协助调解员", "Co-mediators"),
    ("assign_reason", "更换当事人选定调解员的理由（仅更换时填写）", "Why the applicant's chosen mediator is replaced (only then)"),
    (
        "no_mediators",
        "本组织名录中没有可接案的调解员，请管理员在“组织名录”中添加。",
        "This organisation's directory has no mediator taking cases; ask an administrator to add one under Directory.",
    ),
    ("schedule_session", "安排调解", "Schedule a session"),
    ("planned_place", "计划地点", "Where it will be held"),
    ("scheduled_at", "时间", "Date and time"),
    ("planned_sessions", "已安排的调解", "Sessions planned"),
    ("record_planned", "记录这次调解", "Record this session as held"),
    ("performance", "协议履行", "Performance of the agreement"),
    ("record_performance", "记录履行情况", "Record performance"),
    ("perf_pending", "待履行", "not yet due"),
    ("perf_overdue", "逾期未履行，请跟进", "overdue: follow up"),
    ("perf_performed", "已履行", "performed"),
    ("perf_partly", "部分履行", "partly performed"),
    ("perf_breached", "拒不履行", "breached"),
    ("performed_on", "履行日期", "Performed on"),
    ("perf_note", "履行情况说明", "What the follow-up found"),
    ("visit_note", "回访情况", "What the visit found"),
    ("return_visits", "回访", "Return visits"),
    ("record_visit", "记录回访", "Record a return visit"),
    ("visited_on", "回访日期", "Visited on"),
    ("satisfaction", "满意度（1–5）", "Satisfaction (1–5)"),
    ("visit_method", "回访方式", "How"),
    ("visit_visit", "上门", "in person"),
    ("visit_phone", "电话", "by phone"),
    ("visit_online", "网上", "online"),
    ("directory", "组织名录", "Directory"),
    ("directory_intro", "调解组织及其调解员。调解员编号即其登录名。", "Mediation organisations and their mediators. A mediator's id is their sign-in name."),
    ("mediator_id", "调解员编号", "Mediator id"),
    ("specialties", "专长（逗号分隔）", "Specialties (comma-separated)"),
    ("available", "接案", "Takes cases"),
    ("save_mediator", "保存调解员", "Save mediator"),
    ("level", "层级", "Level"),
    ("open_referrals", "在办案件", "Open referrals"),
    ("supervision", "督办", "Supervision"),
    ("add_organisation", "添加调解组织", "Add an organisation"),
    ("change_organisation", "修改该组织", "Change this organisation"),
    ("org_id", "组织编号", "Organisation id"),
    ("org_kind", "类型", "Kind"),
    ("capacity", "可承接在办案件数", "Open referrals it can hold"),
    ("org_categories", "受理类型（行业性调委会，逗号分隔）", "Categories taken (industry committees; comma-separated)"),
    ("org_agency", "服务的机关（派出所、法院、信访局的调解室）", "Agency served (a police station's, court's or bureau's office)"),
    ("org_contact", "联系方式（办公电话、地址）", "Contact (office phone, address)"),
    ("save_organisation", "保存组织", "Save organisation"),
    ("reschedule", "改期", "Move"),
    ("new_time", "新时间", "New date and time"),
    ("reschedule_reason", "改期理由", "Why it moves"),
    ("photos", "现场照片", "Photos of the scene"),
    (
        "photos_help",
        "只登记每张照片的文件名、类型、大小和指纹（SHA-256），照片本身不上传保存；请妥善保管原件。出错时需重新选择。",
        "Only each photo's name, type, size and fingerprint (SHA-256) are registered; the photo itself is not kept, so keep the original. Choose them again after an error.",
    ),
    ("attachments", "附件（指纹）", "Attachments (fingerprints)"),
    (
        "form_unreadable",
        "表单未能完整收到（可能照片过大或网络中断），请重新提交；照片合计不超过 64 MB。",
        "The form did not arrive whole (photos too large, or the connection dropped); submit it again, with photos under 64 MB in all.",
    ),
    ("act_on", "处置", "Act"),
    ("owner", "包案领导", "Owner (leader)"),
    ("no_owner", "尚未落实包案领导。", "No leader owns this case yet."),
    ("assigned_by", "指定", "Assigned by"),
    ("acknowledged", "领导签收", "Acknowledged"),
    ("not_acknowledged", "未签收", "not yet"),
    ("make_owner", "指定包案领导", "Make a leader the owner"),
    ("leader_id", "领导登录名", "Leader's sign-in name"),
    ("acknowledge", "签收包案", "Acknowledge ownership"),
    ("notices", "督办通知", "Supervision notices"),
    ("demand", "督办要求", "What is demanded"),
    ("response_period", "答复期限（如 days:3，留空用默认）", "Response period (e.g. days:3; empty for the default)"),
    ("issue_notice", "发出督办通知", "Issue a notice"),
    ("issued", "发出", "Issued"),
    ("response", "答复", "Response"),
    ("respond", "答复督办", "Answer the notice"),
    ("redrive", "重新推送转办", "Re-drive the referral"),
    ("redrive_help", "案件久拖未动时，把当前转办重新推送给承办组织。", "For a stuck case: announce its open referral to its organisation again."),
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

/// zh-CN and English names by number, for enums shown in pages.
pub(crate) fn pick(names: &[(i32, &'static str, &'static str)], n: i32, lang: Lang) -> &'static str {
    names.iter().find(|(k, _, _)| *k == n).map_or("", |(_, zh, en)| if lang == Lang::Zh { zh } else { en })
}

/// The name of a dispute's source.
pub fn source_name(n: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 8] = [
        (1, "公安移送", "police"),
        (2, "法院诉前委派", "court, pre-litigation"),
        (3, "法院诉中委托", "court, in litigation"),
        (4, "信访转办", "petition"),
        (5, "来访", "walk-in"),
        (6, "网格员上报", "grid worker"),
        (7, "热线来电", "hotline"),
        (8, "网上申请", "online"),
    ];
    pick(&NAMES, n, lang)
}

/// The name of a dispute's category.
pub fn category_name(n: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 14] = [
        (1, "邻里纠纷", "neighbourhood"),
        (2, "婚姻家庭", "marriage and family"),
        (3, "房屋物业", "property and housing"),
        (4, "土地山林边界", "land boundary"),
        (5, "劳动争议", "labour"),
        (6, "道路交通事故", "traffic accident"),
        (7, "医疗纠纷", "medical"),
        (8, "征地拆迁", "expropriation"),
        (9, "消费纠纷", "consumer"),
        (10, "借贷合同", "lending and contracts"),
        (11, "环境污染", "environmental"),
        (12, "知识产权", "intellectual property"),
        (13, "退役军人", "veterans"),
        (14, "其他", "other"),
    ];
    pick(&NAMES, n, lang)
}

/// The name of a risk level.
pub fn risk_name(n: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 4] = [
        (1, "蓝色（一般）", "blue"),
        (2, "黄色（较大）", "yellow"),
        (3, "橙色（重大）", "orange"),
        (4, "红色（特别重大）", "red"),
    ];
    pick(&NAMES, n, lang)
}

/// The name of an alarm's kind (as the supervision API names it).
pub fn alarm_name(kind: &str, lang: Lang) -> &'static str {
    const NAMES: [(&str, &str, &str); 6] = [
        ("OVERDUE", "已超期", "overdue"),
        ("WARNING", "即将到期", "due soon"),
        ("CLOCK_MISSING", "未计时", "no clock running"),
        ("STUCK_CASE", "久拖未动", "stuck"),
        ("DEAD_LETTER", "消息处理失败", "dead letter"),
        ("RED_UNOWNED", "红色案件未落实包案领导", "RED case without an owner"),
    ];
    NAMES.iter().find(|(k, _, _)| *k == kind).map_or("", |(_, zh, en)| if lang == Lang::Zh { zh } else { en })
}

/// The name of a mediation outcome.
pub fn outcome_name(n: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 5] = [
        (1, "达成协议", "agreement"),
        (2, "未达成协议", "no agreement"),
        (3, "当事人拒绝调解", "a party refused"),
        (4, "申请人撤回", "withdrawn"),
        (5, "终止调解", "terminated"),
    ];
    pick(&NAMES, n, lang)
}

/// The name of a party's role.
pub fn party_role_name(n: i32, lang: Lang) -> &'static str {
    const NAMES: [(i32, &str, &str); 3] =
        [(1, "申请人", "applicant"), (2, "被申请人", "respondent"), (3, "第三人", "third party")];
    pick(&NAMES, n, lang)
}

/// The next step a party can expect in a state, in `lang`.
pub fn next_step(state: i32, lang: Lang) -> &'static str {
    let (zh, en) = match state {
        0 | 1 => ("正在分派给调解组织", "being handed to a mediation organisation"),
        2 => ("调解组织将在规定时间内决定是否受理", "the organisation decides whether to take it"),
        3 => ("调解员将联系各方安排调解", "a mediator will contact the parties"),
        5 | 6 => ("正在调解", "mediation is under way"),
        7 => ("已办结；如达成协议请按期履行", "concluded; perform any agreement on time"),
        _ => ("请联系移送单位了解后续安排", "ask the agency that sent it what comes next"),
    };
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
    fn every_key_is_in_the_table_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (key, _, _) in WORDS {
            assert!(seen.insert(key), "{key} is in the words table twice: the later one would hide the earlier");
        }
    }

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
