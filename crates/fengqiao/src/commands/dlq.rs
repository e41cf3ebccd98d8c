//! `fengqiao dlq …`: the events parked in each component's dead-letter record,
//! and replays once their cause is fixed.

use clap::Subcommand;
use fengqiao_platform::{component, dead_letter, Settings};

use super::local_time;
use crate::components;

/// Dead-letter commands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Lists parked events (no payloads: they may hold personal data).
    List {
        /// Only this component.
        #[arg(long, value_parser = components::names())]
        component: Option<String>,
    },
    /// Shows one parked event: where it came from, its trace, every attempt's
    /// outcome; its payload (which may hold personal data) only into a file.
    Show {
        /// The event id (from `fengqiao dlq list`).
        event_id: String,
        /// Only this component.
        #[arg(long, value_parser = components::names())]
        component: Option<String>,
        /// Writes the raw payload (protobuf) to this file, readable by you alone.
        #[arg(long, value_name = "FILE")]
        payload_to: Option<std::path::PathBuf>,
    },
    /// Asks the running component to replay parked events: its consumer runs
    /// each once more within seconds; one that fails again stays parked.
    Replay {
        /// Only this component.
        #[arg(long, value_parser = components::names())]
        component: Option<String>,
        /// Only this event; all not yet replayed otherwise.
        #[arg(long)]
        event_id: Option<String>,
    },
}

/// Runs a dead-letter command.
pub async fn dlq(settings: Settings, command: DlqCommand) -> anyhow::Result<()> {
    let only = match &command {
        DlqCommand::List { component } | DlqCommand::Replay { component, .. } | DlqCommand::Show { component, .. } => {
            component.clone()
        }
    };
    let mut shown = 0;
    let mut asked = 0;
    for c in components::ALL.iter().filter(|c| only.as_deref().is_none_or(|o| o == c.name)) {
        let (db, _) = component::migrate(&settings, c.name, c.migrations).await?;
        match &command {
            DlqCommand::List { .. } => {
                for p in dead_letter::list(&db).await? {
                    let state = match (p.replayed_at, p.replay_requested_at) {
                        (Some(at), _) => format!("replayed {}", local_time(at / 1_000_000)),
                        (None, Some(_)) => "replay requested".to_string(),
                        (None, None) => "parked".to_string(),
                    };
                    println!(
                        "{:<10} {:<22} {} {} case {} attempts {} parked {} — {}\n    last error: {}",
                        c.name,
                        p.consumer,
                        p.event_id,
                        p.event_type,
                        p.case_id,
                        p.attempts,
                        local_time(p.parked_at / 1_000_000),
                        state,
                        p.last_error
                    );
                }
            }
            DlqCommand::Show { event_id, payload_to, .. } => {
                for (p, event) in dead_letter::show(&db, event_id).await? {
                    shown += 1;
                    println!("component:   {}\nconsumer:    {}", c.name, p.consumer);
                    println!("event:       {} {}", p.event_id, p.event_type);
                    println!("from:        {} at {}", event.source, local_time(event.time_micros / 1_000_000));
                    println!("case:        {}", p.case_id);
                    println!("trace:       {}", event.traceparent.as_deref().unwrap_or("(none)"));
                    println!("attempts:    {}, parked {}", p.attempts, local_time(p.parked_at / 1_000_000));
                    println!("last error:  {}", p.last_error);
                    println!("payload:     {} bytes (protobuf {})", event.payload.len(), p.event_type);
                    if let Some(path) = payload_to {
                        write_private(path, &event.payload)?;
                        println!("             written to {}", path.display());
                    }
                    println!();
                }
            }
            DlqCommand::Replay { event_id, .. } => {
                let n = dead_letter::request_replay(&db, event_id.as_deref()).await?;
                if n > 0 {
                    println!("{:<10} {n} replay(s) requested", c.name);
                }
                asked += n;
            }
        }
        db.close().await;
    }
    if let DlqCommand::Show { event_id, .. } = &command {
        if shown == 0 {
            anyhow::bail!("no parked event {event_id}: see `fengqiao dlq list`");
        }
    }
    if let DlqCommand::Replay { .. } = command {
        if asked == 0 {
            anyhow::bail!("nothing to replay: no parked event matches (see `fengqiao dlq list`)");
        }
        println!("the running components replay them within seconds; `fengqiao dlq list` shows the outcome");
    }
    Ok(())
}

/// Writes `bytes` to a new file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}; choose a new file name", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}
