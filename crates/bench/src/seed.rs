//! `fengqiao seed --cases N`: history, to measure latency as the tables grow.
//! One real case goes through the running system to its conclusion (gateway,
//! intake, routing, mediation, the status back at the gateway); then every row
//! it left in every component's schema is cloned N times with fresh ids
//! (UUIDs and keyed hashes derived from the originals and the clone's number),
//! in batches, inside PostgreSQL, with a progress bar.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fengqiao_platform::Settings;
use fengqiao_proto::fengqiao::common::v1::{Actor, MediationOutcome, ReferralState};
use fengqiao_proto::fengqiao::gateway::v1::{GetStatusRequest, SubmitDisputeRequest};
use fengqiao_proto::fengqiao::mediation::v1::mediation_service_client::MediationServiceClient;
use fengqiao_proto::fengqiao::mediation::v1::{
    AcceptReferralRequest, ConcludeMediationRequest, ListInboxRequest, OtherRoute, StartMediationRequest,
};
// The statements here are built from catalogue names (quoted) and id-like
// tokens (hex digits and dashes only, see `id_like`): nothing else is inlined.
use sqlx::{AssertSqlSafe, PgPool, Row};

/// What to seed.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedArgs {
    /// How many historical cases to add.
    #[arg(long)]
    pub cases: u64,
    /// Cases cloned per statement.
    #[arg(long, default_value_t = 2_000)]
    pub batch: u64,
}

/// The component schemas that hold a case's rows.
const SCHEMAS: [&str; 6] = ["intake", "routing", "mediation", "court_linkage", "petition_linkage", "gateway"];

/// Tables not cloned: bookkeeping, counters, and the audit log (a hash chain
/// that copies would break; it is only ever appended to and verified). The
/// outbox and inbox rows of a case are removed once past their retention
/// (`outbox.keep_sent_days`, `bus.inbox_keep_days`): history has none.
fn skipped(table: &str) -> bool {
    table == "fq_outbox"
        || table == "fq_inbox"
        || table.contains("migration")
        || table.contains("audit")
        || table.ends_with("_seq")
        || table.ends_with("sequences")
        || table == "fq_dead_letter"
        // Numbered by the status sequencer; copies would need numbers of their own.
        || table == "status_log"
        || table == "status_pending"
}

/// A table's column as the clone statement needs it.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    text: bool,
    serial: bool,
    nullable: bool,
}

/// One table with rows of the template case.
#[derive(Debug)]
struct Plan {
    schema: &'static str,
    table: String,
    /// The clone statement: $1 template ids, $2..$3 clone numbers.
    sql: String,
    rows: usize,
}

/// True for a UUID or a hex string of 32+ characters (a keyed hash): the values cloned afresh.
fn id_like(token: &str) -> bool {
    let b = token.as_bytes();
    let hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
    let uuid = b.len() == 36
        && b.iter().enumerate().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { *c == b'-' } else { hex(c) });
    uuid || (b.len() >= 32 && b.iter().all(hex))
}

/// The id-like tokens inside `text`.
fn ids_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')).flat_map(|t| {
        // A UUID keeps its dashes; a hash has none.
        if id_like(t) {
            vec![t]
        } else {
            t.split('-').filter(|p| id_like(p)).collect()
        }
    })
}

/// SQL for the clone of `id` in clone number `g`, the same shape (a UUID stays
/// a UUID): the clone number in hex replaces the id's leading digits (a UUID's
/// first 48 bits, a hash's first 64), the rest is the id's own. Clones of one
/// id differ by their number; clones of two ids by the rest, which `distinct_tails`
/// checks. Leading with the clone number keeps every index's inserts at its
/// right edge, where a hashed id would touch a random page per row.
fn fresh(id: &str) -> String {
    if is_uuid(id) {
        let hex = "lpad(to_hex(g), 12, '0')";
        format!("(left({hex}, 8) || '-' || right({hex}, 4) || '{}')", &id[13..])
    } else {
        format!("(lpad(to_hex(g), 16, '0') || '{}')", &id[16..])
    }
}

fn is_uuid(id: &str) -> bool {
    id.len() == 36 && id.as_bytes()[8] == b'-'
}

/// Whether the template ids' kept parts (see [`fresh`]) are all different, so no two clones collide.
fn distinct_tails(ids: &[String]) -> bool {
    let tails: BTreeSet<(bool, &str)> =
        ids.iter().map(|id| if is_uuid(id) { (true, &id[13..]) } else { (false, &id[16..]) }).collect();
    tails.len() == ids.len()
}

/// The first clone number of a run: above 2^47 (a UUIDv7's leading 48 bits are
/// milliseconds since 1970, below 2^47 until the year 6429) and advancing with
/// the clock by more than any run adds, so runs never share numbers.
fn first_clone_number(now_micros: i64) -> i64 {
    (1i64 << 47) + now_micros.rem_euclid(1i64 << 46)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

async fn columns(pool: &PgPool, schema: &str, table: &str) -> anyhow::Result<Vec<Column>> {
    let rows = sqlx::query(
        "SELECT column_name::text, data_type::text, is_nullable::text, coalesce(column_default, '')::text
         FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            text: matches!(r.get::<String, _>(1).as_str(), "text" | "character varying"),
            nullable: r.get::<String, _>(2) == "YES",
            serial: r.get::<String, _>(3).starts_with("nextval("),
        })
        .collect())
}

/// The column sets of `table`'s unique indexes (primary key included).
async fn unique_sets(pool: &PgPool, schema: &str, table: &str) -> anyhow::Result<Vec<Vec<String>>> {
    let rows = sqlx::query(
        "SELECT array_agg(a.attname::text ORDER BY a.attnum)
         FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
         WHERE n.nspname = $1 AND c.relname = $2 AND i.indisunique GROUP BY i.indexrelid",
    )
    .bind(schema)
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(|r| r.get::<Vec<String>, _>(0)).collect())
}

/// The rows of `table` that mention an id of `ids`, as their text columns.
async fn template_rows(
    pool: &PgPool,
    schema: &str,
    table: &str,
    text: &[&Column],
    ids: &[String],
) -> anyhow::Result<Vec<Vec<Option<String>>>> {
    let list = text.iter().map(|c| quoted(&c.name)).collect::<Vec<_>>().join(", ");
    let sql = format!("SELECT {list} FROM {}.{} WHERE {}", quoted(schema), quoted(table), predicate(text));
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(ids).fetch_all(pool).await?;
    Ok(rows.iter().map(|r| (0..text.len()).map(|i| r.get::<Option<String>, _>(i)).collect()).collect())
}

/// `col1 = ANY($1) OR col2 = ANY($1) …` over the text columns.
fn predicate(text: &[&Column]) -> String {
    text.iter().map(|c| format!("{} = ANY($1)", quoted(&c.name))).collect::<Vec<_>>().join(" OR ")
}

/// Every id the template case left anywhere: its case id, then whatever rows
/// holding known ids mention, until nothing new turns up.
async fn closure(pool: &PgPool, case_id: &str) -> anyhow::Result<Vec<String>> {
    let mut ids: BTreeSet<String> = BTreeSet::from([case_id.to_string()]);
    loop {
        let before = ids.len();
        let list: Vec<String> = ids.iter().cloned().collect();
        for (schema, table) in tables(pool).await? {
            let cols = columns(pool, schema, &table).await?;
            let text: Vec<&Column> = cols.iter().filter(|c| c.text).collect();
            if text.is_empty() {
                continue;
            }
            for row in template_rows(pool, schema, &table, &text, &list).await? {
                for value in row.iter().flatten() {
                    ids.extend(ids_in(value).map(str::to_string));
                }
            }
        }
        if ids.len() == before {
            return Ok(ids.into_iter().collect());
        }
    }
}

async fn tables(pool: &PgPool) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut out = Vec::new();
    for schema in SCHEMAS {
        let rows = sqlx::query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
        )
        .bind(schema)
        .fetch_all(pool)
        .await?;
        out.extend(rows.iter().map(|r| (schema, r.get::<String, _>(0))).filter(|(_, t)| !skipped(t)));
    }
    Ok(out)
}

/// The clone statement of every table with template rows; each table's
/// template rows are copied once into a temporary table of `conn`, so a batch
/// reads them there instead of searching the growing table again.
async fn plans(pool: &PgPool, conn: &mut sqlx::PgConnection, ids: &[String]) -> anyhow::Result<Vec<Plan>> {
    let mut plans = Vec::new();
    for (schema, table) in tables(pool).await? {
        let cols = columns(pool, schema, &table).await?;
        let text: Vec<&Column> = cols.iter().filter(|c| c.text).collect();
        if text.is_empty() {
            continue;
        }
        let rows = template_rows(pool, schema, &table, &text, ids).await?;
        if rows.is_empty() {
            continue;
        }
        // Which template ids each text column holds.
        let mut held: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for row in &rows {
            for (col, value) in text.iter().zip(row) {
                let found = value.as_deref().map(|v| ids_in(v).filter(|id| ids.iter().any(|i| i == id)));
                held.entry(col.name.as_str()).or_default().extend(found.into_iter().flatten());
            }
        }
        // A unique index none of whose columns changes with the ids gets a suffix on its first text column.
        let mut suffixed = BTreeSet::new();
        let mut nulled = BTreeSet::new();
        for set in unique_sets(pool, schema, &table).await? {
            let changes = set.iter().any(|c| held.get(c.as_str()).is_some_and(|h| !h.is_empty()));
            let serial = set.iter().any(|c| cols.iter().any(|k| &k.name == c && k.serial));
            if changes || serial {
                continue;
            }
            match set.iter().find(|c| text.iter().any(|t| &&t.name == c)) {
                Some(c) => suffixed.insert(c.clone()),
                None => match set.iter().find(|c| cols.iter().any(|k| &k.name == *c && k.nullable)) {
                    Some(c) => nulled.insert(c.clone()),
                    None => anyhow::bail!("{schema}.{table}: a unique index seed cannot vary ({set:?})"),
                },
            };
        }
        let mut names = Vec::new();
        let mut exprs = Vec::new();
        for col in cols.iter().filter(|c| !c.serial) {
            let src = format!("src.{}", quoted(&col.name));
            let mut expr = src.clone();
            for id in held.get(col.name.as_str()).into_iter().flatten() {
                expr = format!("replace({expr}, '{id}', {})", fresh(id));
            }
            if suffixed.contains(&col.name) {
                expr = format!("({expr} || '~' || g::text)");
            }
            if nulled.contains(&col.name) {
                expr = "NULL".into();
            }
            names.push(quoted(&col.name));
            exprs.push(expr);
        }
        let template = format!("seed_template_{}", plans.len());
        let copy = format!(
            "CREATE TEMPORARY TABLE {template} AS SELECT * FROM {}.{} WHERE {}",
            quoted(schema),
            quoted(&table),
            predicate(&text)
        );
        sqlx::query(AssertSqlSafe(copy)).bind(ids).execute(&mut *conn).await?;
        let sql = format!(
            "INSERT INTO {s}.{t} ({names}) SELECT {exprs} FROM {template} AS src, \
             generate_series($1::bigint, $2::bigint) AS g ON CONFLICT DO NOTHING",
            s = quoted(schema),
            t = quoted(&table),
            names = names.join(", "),
            exprs = exprs.join(", "),
        );
        plans.push(Plan { schema, table, sql, rows: rows.len() });
    }
    Ok(plans)
}

/// Drives one case through the running system to its conclusion; returns its case id.
async fn template_case(settings: &Settings) -> anyhow::Result<String> {
    let agency = crate::agencies(settings, "seed", 1).await?.remove(0);
    let village = crate::load::villages().into_iter().next().ok_or_else(|| anyhow::anyhow!("no village"))?;
    let external_ref = format!("SEED-{}", uuid::Uuid::now_v7().simple());
    let mut request = tonic::Request::new(SubmitDisputeRequest {
        dispute: Some(crate::load::dispute(&external_ref, &village, 1)),
        ..Default::default()
    });
    request.metadata_mut().insert("authorization", format!("Bearer {}", agency.token).parse()?);
    let status = agency.client.clone().submit_dispute(request).await?.into_inner().status.unwrap_or_default();
    let case_id = status.case_id;
    let get = |state: ReferralState| {
        let (mut client, token, case_id) = (agency.client.clone(), agency.token.clone(), case_id.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let mut r = tonic::Request::new(GetStatusRequest { case_id: case_id.clone() });
                r.metadata_mut().insert("authorization", format!("Bearer {token}").parse()?);
                let s = client.get_status(r).await?.into_inner().status.unwrap_or_default();
                if s.referral_state == state as i32 {
                    return Ok::<_, anyhow::Error>(s);
                }
                anyhow::ensure!(Instant::now() < deadline, "the template case did not reach {state:?} within 60 s");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let received = get(ReferralState::Received).await?;
    let mut mediation = MediationServiceClient::new(settings.channel_to("mediation")?);
    let actor = Some(Actor { org_id: received.org_id.clone(), person_id: "seed".into() });
    let inbox = mediation
        .list_inbox(ListInboxRequest { org_id: received.org_id.clone(), page_size: 500, ..Default::default() })
        .await?
        .into_inner();
    let referral_id = inbox
        .items
        .into_iter()
        .find(|i| i.case_id == case_id)
        .ok_or_else(|| anyhow::anyhow!("the template case is not in {}'s inbox", received.org_id))?
        .referral_id;
    mediation.accept_referral(AcceptReferralRequest { referral_id: referral_id.clone(), actor: actor.clone() }).await?;
    mediation.start_mediation(StartMediationRequest { referral_id: referral_id.clone(), actor: actor.clone() }).await?;
    mediation
        .conclude_mediation(ConcludeMediationRequest {
            referral_id,
            actor,
            outcome: MediationOutcome::NoAgreement as i32,
            summary: "未达成协议（基准历史）".into(),
            routes_told: vec![OtherRoute::Litigation as i32],
            ..Default::default()
        })
        .await?;
    get(ReferralState::Completed).await?;
    Ok(case_id)
}

/// Waits until no component has an unpublished event and the consumers are quiet.
async fn settled(pool: &PgPool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut unsent = 0i64;
        for schema in SCHEMAS {
            let sql = format!("SELECT COUNT(*) FROM {}.fq_outbox WHERE sent_at IS NULL", quoted(schema));
            unsent += sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql)).fetch_one(pool).await?;
        }
        if unsent == 0 {
            // Consumers apply what was just published.
            tokio::time::sleep(Duration::from_secs(2)).await;
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{unsent} events stay unpublished: is every component running?");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What seeding did.
#[derive(Debug)]
pub struct Seeded {
    /// Cases added.
    pub cases: u64,
    /// Rows added across every schema.
    pub rows: u64,
    /// How long it took.
    pub elapsed: Duration,
}

/// Seeds `args.cases` historical cases into the running distributed fengqiao `settings` describe.
pub async fn run(settings: &Settings, args: &SeedArgs) -> anyhow::Result<Seeded> {
    use secrecy::ExposeSecret;
    anyhow::ensure!(
        settings.uses_postgres(),
        "seed works on PostgreSQL (distributed mode): set FENGQIAO_DATABASE__URL and start the components"
    );
    let pool = PgPool::connect(settings.database.url.expose_secret()).await?;
    eprintln!("driving one case through the running system to its conclusion …");
    let case_id = template_case(settings).await?;
    settled(&pool).await?;
    let ids = closure(&pool, &case_id).await?;
    anyhow::ensure!(
        distinct_tails(&ids),
        "two ids of the template case {case_id} differ only in their leading digits; run seed again (a new template)"
    );
    let mut conn = pool.acquire().await?;
    let plans = plans(&pool, &mut conn, &ids).await?;
    let per_case: usize = plans.iter().map(|p| p.rows).sum();
    eprintln!(
        "template case {case_id}: {per_case} rows in {} tables ({} ids); cloning it {} times",
        plans.len(),
        ids.len(),
        args.cases
    );
    let bar = indicatif::ProgressBar::new(args.cases).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cases · {per_sec} · eta {eta}")
            .expect("a valid template"),
    );
    let started = Instant::now();
    // Clone numbers unique to this run, so a second run adds and never collides.
    let base = first_clone_number(fengqiao_platform::db::now_micros());
    let mut rows = 0u64;
    let mut done = 0u64;
    while done < args.cases {
        let n = args.batch.min(args.cases - done).max(1);
        let (lo, hi) = (base + done as i64, base + (done + n) as i64 - 1);
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        for plan in &plans {
            let added = sqlx::query(AssertSqlSafe(plan.sql.as_str())).bind(lo).bind(hi).execute(&mut *tx).await;
            rows += added.map_err(|e| anyhow::anyhow!("cloning {}.{}: {e}", plan.schema, plan.table))?.rows_affected();
        }
        tx.commit().await?;
        done += n;
        bar.set_position(done);
    }
    bar.finish_and_clear();
    // Fresh statistics, so the planner sees the grown tables; and the visibility
    // map set now, so autovacuum does not scan the new history during a measurement.
    eprintln!("vacuuming and analysing the grown tables …");
    sqlx::raw_sql("VACUUM (ANALYZE)").execute(&pool).await?;
    let seeded = Seeded { cases: done, rows, elapsed: started.elapsed() };
    eprintln!(
        "seeded {} cases ({} rows) in {:.1} s: {:.0} cases/s",
        seeded.cases,
        seeded.rows,
        seeded.elapsed.as_secs_f64(),
        seeded.cases as f64 / seeded.elapsed.as_secs_f64().max(0.001)
    );
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_keyed_hashes_are_ids_and_other_words_are_not() {
        let text = "routing-cases/0199a3b2-7c41-7a10-8f00-1234567890ab and \
                    3f2a9c0d1e4b5a6978877665544332211aabbccddeeff00112233445566778899 but not 620802-2026-000001";
        let found: Vec<&str> = ids_in(text).collect();
        assert_eq!(
            found,
            [
                "0199a3b2-7c41-7a10-8f00-1234567890ab",
                "3f2a9c0d1e4b5a6978877665544332211aabbccddeeff00112233445566778899"
            ]
        );
        assert!(!id_like("cafe"));
    }

    #[test]
    fn clones_keep_the_shape_of_their_id_and_lead_with_the_clone_number() {
        let uuid = "0199a3b2-7c41-7a10-8f00-1234567890ab";
        assert_eq!(fresh(uuid), "(left(lpad(to_hex(g), 12, '0'), 8) || '-' || right(lpad(to_hex(g), 12, '0'), 4) || '-7a10-8f00-1234567890ab')");
        let hash = "3f2a9c0d1e4b5a6978877665544332211aabbccddeeff00112233445566778899";
        assert_eq!(fresh(hash), format!("(lpad(to_hex(g), 16, '0') || '{}')", &hash[16..]));
        // Two ids alike but for their leading digits would give equal clones.
        let twin = format!("ffffffff-ffff{}", &uuid[13..]);
        assert!(distinct_tails(&[uuid.to_string(), hash.to_string()]));
        assert!(!distinct_tails(&[uuid.to_string(), twin]));
    }

    #[test]
    fn clone_numbers_sit_above_every_uuid_v7_timestamp_and_fit_48_bits() {
        let now = 1_800_000_000_000_000; // 2027, in microseconds
        let first = first_clone_number(now);
        assert!(first > now / 1000, "above today's milliseconds");
        assert!(first + 100_000_000 < 1i64 << 48, "10^8 clones still fit twelve hex digits");
        assert!(first_clone_number(now + 5) == first + 5, "later runs start later");
    }
}
