//! `fengqiao token <agency>`: a development token for an agency system.

use fengqiao_platform::Settings;

/// Prints a development token for `agency_id`.
pub fn token(mut settings: Settings, agency_id: &str, standalone: bool) -> anyhow::Result<()> {
    settings.standalone = standalone;
    let secret = fengqiao_gateway::auth::secret(&settings)?;
    println!("{}", fengqiao_gateway::auth::issue(&secret, agency_id));
    Ok(())
}
