//! `fengqiao outbox resend --since …`: after the NATS stream was lost, marks the
//! events each component committed since a moment unsent again, so its relay
//! publishes them once more (docs/operations.md, NATS stream recovery).

use clap::Subcommand;
use fengqiao_platform::{component, outbox, Settings};
use time::format_description::well_known::Rfc3339;

use crate::components;

/// Outbox commands.
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Publishes again the events committed since a moment (after a lost stream):
    /// the running relays send them within seconds; consumers drop what they
    /// applied already, so choosing too early a moment costs only time.
    Resend {
        /// A moment safely before the stream was lost, RFC 3339, e.g. 2026-12-05T14:00:00+08:00.
        #[arg(long, value_parser = since_micros)]
        since: i64,
        /// Only this component.
        #[arg(long, value_parser = components::names())]
        component: Option<String>,
    },
}

/// Parses an RFC 3339 moment into microseconds since the epoch.
fn since_micros(text: &str) -> Result<i64, String> {
    let moment = time::OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("{e}: give a moment like 2026-12-05T14:00:00+08:00"))?;
    i64::try_from(moment.unix_timestamp_nanos() / 1_000).map_err(|_| "a moment too far from now".to_string())
}

/// Runs an outbox command.
pub async fn outbox(settings: Settings, command: OutboxCommand) -> anyhow::Result<()> {
    let OutboxCommand::Resend { since, component: only } = command;
    let mut total = 0;
    for c in components::ALL.iter().filter(|c| only.as_deref().is_none_or(|o| o == c.name)) {
        let (db, _) = component::migrate(&settings, c.name, c.migrations).await?;
        let marked = outbox::resend_since(&db, since, |so_far| eprint!("\r{:<16} {so_far} marked …", c.name)).await;
        db.close().await;
        let marked = marked?;
        eprint!("\r");
        println!("{:<16} {marked} event(s) to publish again", c.name);
        total += marked;
    }
    match total {
        0 => println!("nothing committed since then: nothing to send"),
        _ => println!(
            "the running relays publish them within seconds (watch fengqiao_outbox_oldest_age_seconds fall); \
             consumers drop what they applied already"
        ),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_moment_is_read_in_any_offset_and_a_bad_one_says_how_to_write_it() {
        assert_eq!(super::since_micros("1970-01-01T08:00:01+08:00"), Ok(1_000_000));
        assert_eq!(super::since_micros("2026-12-05T06:00:00.5Z"), Ok(1_796_450_400_500_000));
        let bad = super::since_micros("yesterday").unwrap_err();
        assert!(bad.contains("2026-12-05T14:00:00+08:00"), "{bad}");
    }
}
