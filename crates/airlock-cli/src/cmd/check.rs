//! `airlock check` — dry-run one call: prints the decision JSON on stdout (with `guarded`: the
//! values the argument guards checked as paths, URLs or hosts, and the rule that found each);
//! exit 0 allowed, 1 refused, 2 usage or configuration error.

use std::io::{Read, Write};
use std::path::PathBuf;

use airlock_core::{Arguments, Call, CallerContext};
use anyhow::Context;
use jiff::Timestamp;

use crate::Outcome;
use crate::load::{self, ConfigArgs};

/// `airlock check` options.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Example:\n  airlock check --tools examples/tools.json --tool transfer_money \\\n    --args '{\"to\": \"DE89370400440532013000\", \"amount\": \"5\", \"currency\": \"EUR\"}'"
)]
pub struct Args {
    #[command(flatten)]
    config: ConfigArgs,
    /// The server's tools: a tools/list result, a JSON-RPC response holding one, or an array.
    #[arg(long, value_name = "FILE")]
    tools: PathBuf,
    /// The tool to call.
    #[arg(long, value_name = "NAME")]
    tool: String,
    /// The arguments: JSON text, @FILE to read a file, or @- to read stdin.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    args: String,
    /// The caller's agent id.
    #[arg(long, value_name = "ID", env = "AIRLOCK_AGENT")]
    agent: Option<String>,
    /// The caller's roles, comma-separated.
    #[arg(long, value_name = "A,B", value_delimiter = ',', env = "AIRLOCK_ROLES")]
    roles: Vec<String>,
    /// The caller's tenant.
    #[arg(long, value_name = "NAME", env = "AIRLOCK_TENANT")]
    tenant: Option<String>,
    /// The caller's session id.
    #[arg(long, value_name = "ID", env = "AIRLOCK_SESSION")]
    session: Option<String>,
    /// Evaluate the call at this time (RFC 3339, e.g. 2026-05-01T09:30:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Print the decision on one line instead of pretty-printed.
    #[arg(long)]
    compact: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let at = args
        .at
        .as_deref()
        .map(|s| {
            s.parse::<Timestamp>().with_context(|| {
                format!("--at {s:?} is not an RFC 3339 time\nhint: write it like 2026-05-01T09:30:00Z or 2026-05-01T11:30:00+02:00")
            })
        })
        .transpose()?;
    let tools = load::tools_file(&args.tools)?;
    let raw = read_args(&args.args)?;

    let (_, config) = load::config(&args.config)?;
    for role in undeclared_roles(&config.settings, &args.roles) {
        crate::printer::Printer::stderr().warn(&format!(
            "the role {role:?} (--roles) is named nowhere in the configuration (policy.roles, [tools] rules): it grants nothing; check its spelling"
        ));
    }
    // The names this tool's configuration says are not paths (`not_paths`), as the guard reads them.
    let filesystem = airlock_guard::Filesystem::from_settings(&config.settings).ok();
    let not_paths: Vec<String> = filesystem
        .as_ref()
        .map(|f| f.not_paths(&args.tool, args.tenant.as_deref()).to_vec())
        .unwrap_or_default();
    let engine = load::engine(config)?;
    // Which values the argument guards took for paths, URLs and hosts, and by which rule.
    let guarded: Vec<serde_json::Value> = match (
        tools.iter().find(|t| t.name == args.tool),
        serde_json::from_str::<serde_json::Value>(&raw),
    ) {
        (Some(def), Ok(serde_json::Value::Object(map))) => airlock_guard::find::targets_except(
            &def.input_schema,
            &map,
            &not_paths,
        )
        .into_iter()
        .map(|t| serde_json::json!({"field": t.field, "as": t.kind, "rule": t.rule.to_string()}))
        .collect(),
        _ => Vec::new(),
    };
    engine.set_tools(tools);

    let caller = CallerContext {
        agent: args.agent,
        session: args.session,
        tenant: args.tenant,
        roles: args.roles.into_iter().filter(|r| !r.is_empty()).collect(),
        metadata: Default::default(),
    };
    let mut call = Call::new(args.tool, Arguments::Raw(raw)).caller(caller);
    call.at = at;
    let decision = engine.check(call);
    if let airlock_core::Decision::Refused(r) = &decision
        && let Some(internal) = &r.internal
    {
        eprintln!("warning: a check failed internally and the call was refused: {internal}");
    }
    let mut json = decision.to_json();
    if !guarded.is_empty()
        && let Some(obj) = json.as_object_mut()
    {
        obj.insert("guarded".into(), serde_json::Value::Array(guarded));
    }
    let text = if args.compact {
        serde_json::to_string(&json)?
    } else {
        serde_json::to_string_pretty(&json)?
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(if decision.is_allowed() {
        Outcome::Ok
    } else {
        Outcome::Refused
    })
}

fn read_args(spec: &str) -> anyhow::Result<String> {
    match spec.strip_prefix('@') {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the arguments from stdin")?;
            Ok(s)
        }
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the arguments file {path}")),
        None => Ok(spec.to_owned()),
    }
}

/// The roles in `given` that no part of the configuration names: roles are only what rules
/// make of them, so one nobody names is most often a typo.
fn undeclared_roles<'a>(
    settings: &airlock_core::config::Settings,
    given: &'a [String],
) -> Vec<&'a str> {
    let mut named: Vec<&str> = settings
        .policy
        .roles
        .iter()
        .chain(settings.tools.values().flat_map(|r| &r.roles))
        .chain(
            settings
                .tenants
                .values()
                .flat_map(|t| t.tools.values().flat_map(|r| &r.roles)),
        )
        .map(String::as_str)
        .collect();
    named.sort_unstable();
    given
        .iter()
        .map(String::as_str)
        .filter(|r| !r.is_empty() && named.binary_search(r).is_err())
        .collect()
}
