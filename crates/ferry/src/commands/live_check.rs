//! `ferry check --live`: once the offline checks pass, the configuration against the systems
//! themselves (see `ferry_engine::live_check`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use ferry_engine::Assembly;
use ferry_model::config::LoadedConfig;

use crate::output::outln;

/// How long a system may take to connect, and each flow's end to be probed: long enough for a
/// slow login, short enough that a system that does not answer is reported, not waited for.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Probes every system and flow; prints every problem and exits 1, or says OK.
pub async fn run(
    file: &Path,
    loaded: &LoadedConfig,
    assembly: &Assembly,
) -> anyhow::Result<ExitCode> {
    match ferry_engine::live_check(loaded, assembly, TIMEOUT).await {
        Ok(()) => {
            outln!(
                "{}: OK, live ({} systems reached, {} flows probed)",
                file.display(),
                assembly.systems.len(),
                assembly
                    .flows
                    .values()
                    .filter(|f| !f.config.disabled)
                    .count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
