//! The one printer for humans: everything for people goes to stderr (stdout belongs to the
//! command's output), colours only on a terminal and never with `NO_COLOR`, errors end with
//! `hint:` lines, and untrusted text is escaped before it reaches a terminal.

use std::io::{IsTerminal, Write};

/// Writes human messages to stderr.
pub struct Printer {
    color: bool,
}

impl Printer {
    /// A printer for stderr.
    pub fn stderr() -> Self {
        Printer {
            color: use_color(std::io::stderr().is_terminal()),
        }
    }

    /// Print an error chain: `error: …`, `caused by: …`, then any `hint:` lines it carries.
    pub fn error(&self, e: &anyhow::Error) {
        let mut out = std::io::stderr().lock();
        let mut hints = Vec::new();
        for (i, cause) in e.chain().enumerate() {
            let text = cause.to_string();
            let (body, hint) = match text.split_once("\nhint: ") {
                Some((b, h)) => (b.to_owned(), Some(h.to_owned())),
                None => (text, None),
            };
            let label = if i == 0 { "error" } else { "caused by" };
            let _ = writeln!(out, "{}: {}", self.paint(label, "1;31"), escape(&body));
            hints.extend(hint);
        }
        for h in hints {
            let _ = writeln!(out, "{}: {}", self.paint("hint", "1;36"), escape(&h));
        }
    }

    /// Print `warning: …`.
    pub fn warn(&self, text: &str) {
        let mut out = std::io::stderr().lock();
        let _ = writeln!(out, "{}: {}", self.paint("warning", "1;33"), escape(text));
    }

    /// Wrap `text` in an ANSI style when colours are on.
    pub fn paint(&self, text: &str, style: &str) -> String {
        paint(self.color, text, style)
    }
}

/// How log lines are written: `Auto` is text on a terminal, JSON lines otherwise (a client's
/// log file, a log collector); `Text` is `airlock: warning: …` lines; `Json` one object per
/// line: `time`, `level`, `target`, `message` and the event's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[allow(missing_docs)] // described above: doc comments on the variants would lengthen `--help`
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// Send `tracing` events to stderr. The level: `-v` (info), `-vv` (debug), `-vvv` (trace),
/// `-q` (errors only), `-qq` (nothing); without those flags `$AIRLOCK_LOG` (`off`, `error`,
/// `warn`, `info`, `debug`, `trace`); else warnings. Nothing is ever written to stdout.
pub fn init_logs(verbose: u8, quiet: u8, format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{Layer, filter::LevelFilter};
    let level = match (verbose, quiet) {
        (0, 0) => match std::env::var("AIRLOCK_LOG")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "off" => LevelFilter::OFF,
            "error" => LevelFilter::ERROR,
            "info" => LevelFilter::INFO,
            "debug" => LevelFilter::DEBUG,
            "trace" => LevelFilter::TRACE,
            _ => LevelFilter::WARN,
        },
        (0, 1) => LevelFilter::ERROR,
        (0, _) => LevelFilter::OFF,
        (1, _) => LevelFilter::INFO,
        (2, _) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let layer = LogLayer {
        printer: Printer::stderr(),
        json,
    }
    .with_filter(level);
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
}

struct LogLayer {
    printer: Printer,
    json: bool,
}

/// The message and the other fields of one event.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<String>,
    /// The other fields by name, for JSON lines.
    named: serde_json::Map<String, serde_json::Value>,
}

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.rest.push(format!("{}={value:?}", field.name()));
            self.named
                .insert(field.name().to_owned(), format!("{value:?}").into());
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.rest.push(format!("{}={value}", field.name()));
            self.named.insert(field.name().to_owned(), value.into());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if self.json {
            let meta = event.metadata();
            let mut line = serde_json::Map::new();
            line.insert("time".into(), jiff::Timestamp::now().to_string().into());
            line.insert(
                "level".into(),
                meta.level().as_str().to_ascii_lowercase().into(),
            );
            line.insert("target".into(), meta.target().into());
            line.insert("message".into(), fields.message.into());
            for (k, v) in fields.named {
                line.entry(k).or_insert(v);
            }
            let mut out = std::io::stderr().lock();
            let _ = writeln!(out, "{}", serde_json::Value::Object(line));
            return;
        }
        let (label, style) = match *event.metadata().level() {
            tracing::Level::ERROR => ("error", "1;31"),
            tracing::Level::WARN => ("warning", "1;33"),
            tracing::Level::INFO => ("info", "1"),
            _ => ("debug", "2"),
        };
        let mut text = fields.message;
        if !fields.rest.is_empty() {
            text = format!("{text} ({})", fields.rest.join(", "));
        }
        let mut out = std::io::stderr().lock();
        let _ = writeln!(
            out,
            "airlock: {}: {}",
            self.printer.paint(label, style),
            escape(&text)
        );
    }
}

/// Wrap `text` in an ANSI style when `color` is on.
pub fn paint(color: bool, text: &str, style: &str) -> String {
    if color {
        format!("\x1b[{style}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Whether to use colours on a stream that is (or is not) a terminal.
pub fn use_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Escape control characters (but not newlines) so untrusted text cannot drive the terminal.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether an error is a closed stdout (e.g. `airlock demo | head`): ends quietly.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(escape("a\x1b[31mb\nc"), "a\\u{1b}[31mb\nc");
    }
}
