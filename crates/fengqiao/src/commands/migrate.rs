//! `fengqiao migrate`: applies migrations and exits.

use fengqiao_platform::{component, Settings};

use crate::components;

/// Migrates every component, or only `only`.
pub async fn migrate(settings: Settings, only: Option<&str>) -> anyhow::Result<()> {
    for c in components::ALL.iter().filter(|c| only.is_none_or(|o| o == c.name)) {
        let (db, report) = component::migrate(&settings, c.name, c.migrations).await?;
        println!("{:<18} {} applied, {} already applied", c.name, report.applied.len(), report.already_applied);
        for m in &report.applied {
            println!("  + {m}");
        }
        db.close().await;
    }
    Ok(())
}
