//! `airlock pin` — write the pins of a server's tools (`pinning.mode = "file"`): one
//! `sha256:` per tool, from a saved `tools/list` result. Review the tools, commit the file, and
//! the airlock refuses any tool whose definition later differs, or that has no pin.

use std::io::Write;
use std::path::PathBuf;

use airlock_core::ToolDef;
use anyhow::Context;

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
    let text = std::fs::read_to_string(&args.tools)
        .with_context(|| format!("cannot read the tools file {}", args.tools.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "the tools file {} is not valid JSON\nhint: save the result of a tools/list request, e.g. {{\"tools\": [...]}}",
            args.tools.display()
        )
    })?;
    let tools = ToolDef::parse_list(json).with_context(|| {
        format!(
            "the tools file {} does not hold a list of tools\nhint: each tool needs at least a \"name\"",
            args.tools.display()
        )
    })?;
    let pins: std::collections::BTreeMap<String, String> = tools
        .iter()
        .map(|t| (t.name.clone(), airlock_core::pins::pin_of(t)))
        .collect();
    let mut out = serde_json::to_string_pretty(&pins)?;
    out.push('\n');
    match &args.out {
        Some(path) => std::fs::write(path, out)
            .with_context(|| format!("cannot write the pins file {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(out.as_bytes())?;
            stdout.flush()?;
        }
    }
    Ok(Outcome::Ok)
}
