//! `airlock pin` — write the pins of a server's tools (`pinning.mode = "file"`): one
//! `sha256:` per tool, from a saved `tools/list` result. Review the tools, commit the file, and
//! the airlock refuses any tool whose definition later differs, or that has no pin.

use std::path::PathBuf;

use crate::Outcome;

/// `airlock pin` options.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  airlock pin --tools examples/tools.json --out airlock-pins.json\n  # then in airlock.toml:  [pinning]  mode = \"file\"  file = \"airlock-pins.json\""
)]
pub struct Args {
    /// The server's tools: a tools/list result, a JSON-RPC response holding one, or an array.
    #[arg(long, value_name = "FILE")]
    tools: PathBuf,
    /// Write the pins here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let tools = crate::load::tools_file(&args.tools)?;
    let pins: std::collections::BTreeMap<String, String> = tools
        .iter()
        .map(|t| (t.name.clone(), airlock_core::pins::pin_of(t)))
        .collect();
    crate::load::write_json(args.out.as_deref(), &pins, "pins")?;
    Ok(Outcome::Ok)
}
