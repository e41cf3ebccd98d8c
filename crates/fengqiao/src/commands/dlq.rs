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
        DlqCommand::List { component } | DlqCommand::Replay { component, .. } => component.clone(),
    };
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
    if let DlqCommand::Replay { .. } = command {
        if asked == 0 {
            anyhow::bail!("nothing to replay: no parked event matches (see `fengqiao dlq list`)");
        }
        println!("the running components replay them within seconds; `fengqiao dlq list` shows the outcome");
    }
    Ok(())
}
