//! `fengqiao directory …` and `fengqiao reroute`: the organisation directory
//! and staff's re-routing, through routing's API.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use fengqiao_platform::Settings;
use fengqiao_proto::fengqiao::common::v1::Actor;
use fengqiao_proto::fengqiao::routing::v1::routing_service_client::RoutingServiceClient;
use fengqiao_proto::fengqiao::routing::v1::*;
use serde::Deserialize;
use tonic::transport::Channel;

/// Directory commands.
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Lists organisations.
    List {
        /// Only those whose area code starts with this, e.g. 620802001.
        #[arg(long, default_value = "")]
        division: String,
        /// Only this kind, e.g. VILLAGE_COMMITTEE.
        #[arg(long, default_value = "")]
        kind: String,
    },
    /// Imports organisations from CSV (header: org_id,name,kind,level,division_code,
    /// capacity,categories,agency_id[,contact]; categories separated by '|') or from a JSON
    /// array of objects with those fields. Valid rows are added or replaced;
    /// rejected rows are reported with their line and reasons.
    Import {
        /// The CSV or JSON file.
        file: PathBuf,
        /// Check every row without changing the directory.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    org_id: String,
    name: String,
    kind: String,
    level: i32,
    division_code: String,
    #[serde(default = "default_capacity")]
    capacity: i32,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    agency_id: String,
    #[serde(default)]
    contact: String,
}

fn default_capacity() -> i32 {
    100
}

impl From<Row> for Organisation {
    fn from(r: Row) -> Self {
        Organisation {
            org_id: r.org_id,
            name: r.name,
            kind: r.kind,
            level: r.level,
            division_code: r.division_code,
            capacity: r.capacity,
            categories: r.categories,
            agency_id: r.agency_id,
            open_referrals: 0,
            contact: r.contact,
        }
    }
}

/// Reads the file's rows as (line, organisation or why it cannot be read).
fn read_rows(file: &Path) -> anyhow::Result<Vec<(usize, Result<Organisation, String>)>> {
    let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    if file.extension().is_some_and(|e| e == "json") {
        let rows: Vec<serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: not a JSON array: {e}", file.display()))?;
        return Ok(rows
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i + 1, serde_json::from_value::<Row>(v).map(Organisation::from).map_err(|e| e.to_string())))
            .collect());
    }
    let mut lines = text.lines().enumerate();
    let header: Vec<&str> = lines.next().map(|(_, h)| h.split(',').map(str::trim).collect()).unwrap_or_default();
    let expected = ["org_id", "name", "kind", "level", "division_code", "capacity", "categories", "agency_id"];
    let with_contact = header.len() == 9 && header[8] == "contact";
    anyhow::ensure!(
        header[..header.len().min(8)] == expected && (header.len() == 8 || with_contact),
        "{}: the first line must be {}[,contact]",
        file.display(),
        expected.join(",")
    );
    Ok(lines
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let row = match f.as_slice() {
                [id, name, kind, level, division, capacity, categories, agency, rest @ ..] if rest.len() <= 1 => {
                    Ok(Organisation {
                        org_id: id.to_string(),
                        name: name.to_string(),
                        kind: kind.to_string(),
                        level: level.parse().unwrap_or(0),
                        division_code: division.to_string(),
                        capacity: capacity.parse().unwrap_or(0),
                        categories: categories.split('|').filter(|c| !c.is_empty()).map(str::to_string).collect(),
                        agency_id: agency.to_string(),
                        open_referrals: 0,
                        contact: rest.first().map(|c| c.to_string()).unwrap_or_default(),
                    })
                }
                _ => Err(format!("{} fields, 8 or 9 expected (no commas inside fields)", f.len())),
            };
            (i + 1, row)
        })
        .collect())
}

/// A channel to the routing component, with an error that says what to do.
pub async fn routing_channel(settings: &Settings) -> anyhow::Result<Channel> {
    let url = settings.routing.endpoint();
    tonic::transport::Endpoint::from_shared(url.clone())?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach routing at {url}: {e}; is fengqiao running?"))
}

async fn client(settings: &Settings) -> anyhow::Result<RoutingServiceClient<Channel>> {
    Ok(RoutingServiceClient::new(routing_channel(settings).await?))
}

/// Runs a directory command.
pub async fn directory(settings: Settings, command: DirectoryCommand) -> anyhow::Result<()> {
    let mut routing = client(&settings).await?;
    match command {
        DirectoryCommand::List { division, kind } => {
            let mut token = String::new();
            loop {
                let request = ListOrganisationsRequest {
                    division_prefix: division.clone(),
                    kind: kind.clone(),
                    page_size: 500,
                    page_token: token,
                };
                let page = routing.list_organisations(request).await?.into_inner();
                for o in &page.organisations {
                    println!(
                        "{:<32} {:<24} L{} {:<12} {:>4}/{:<5} {}",
                        o.org_id, o.kind, o.level, o.division_code, o.open_referrals, o.capacity, o.name
                    );
                }
                if page.next_page_token.is_empty() {
                    break;
                }
                token = page.next_page_token;
            }
        }
        DirectoryCommand::Import { file, dry_run } => import(&mut routing, &file, dry_run).await?,
    }
    Ok(())
}

async fn import(routing: &mut RoutingServiceClient<Channel>, file: &Path, dry_run: bool) -> anyhow::Result<()> {
    let rows = read_rows(file)?;
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows {msg}").expect("a valid template"),
    );
    let (mut added, mut replaced, mut rejected) = (0, 0, Vec::new());
    for (line, row) in rows {
        bar.inc(1);
        let organisation = match row {
            Ok(o) => o,
            Err(why) => {
                rejected.push(format!("line {line}: {why}"));
                continue;
            }
        };
        if dry_run {
            let problems = fengqiao_routing::validate_organisation(&organisation);
            if !problems.is_empty() {
                let why: Vec<String> =
                    problems.into_iter().map(|v| format!("{}: {}", v.field, v.description)).collect();
                rejected.push(format!("line {line} ({}): {}", organisation.org_id, why.join("; ")));
            }
            continue;
        }
        match routing.upsert_organisation(UpsertOrganisationRequest { organisation: Some(organisation.clone()) }).await
        {
            Ok(r) if r.get_ref().created => added += 1,
            Ok(_) => replaced += 1,
            Err(status) => {
                let why: Vec<String> = fengqiao_platform::status::violations(&status)
                    .into_iter()
                    .map(|v| format!("{}: {}", v.field, v.description))
                    .collect();
                let why = if why.is_empty() { status.message().to_string() } else { why.join("; ") };
                rejected.push(format!("line {line} ({}): {why}", organisation.org_id));
            }
        }
    }
    bar.finish_and_clear();
    if dry_run {
        println!("dry run: {} rows would be rejected; nothing changed", rejected.len());
    } else {
        println!("{added} added, {replaced} replaced, {} rejected", rejected.len());
    }
    for r in &rejected {
        println!("  rejected {r}");
    }
    anyhow::ensure!(rejected.is_empty(), "{} rows were rejected; fix them and import the file again", rejected.len());
    Ok(())
}

/// Moves a case to another organisation on staff's decision.
pub async fn reroute(settings: Settings, case_id: &str, to: &str, reason: &str, by: &str) -> anyhow::Result<()> {
    let mut routing = client(&settings).await?;
    let request = RerouteCaseRequest {
        case_id: case_id.to_string(),
        org_id: to.to_string(),
        reason: reason.to_string(),
        actor: Some(Actor { org_id: by.to_string(), person_id: String::new() }),
    };
    let referral = routing.reroute_case(request).await?.into_inner().referral.unwrap_or_default();
    println!("referral {} to {}: {}", referral.referral_id, referral.org_id, referral.explanation);
    Ok(())
}
