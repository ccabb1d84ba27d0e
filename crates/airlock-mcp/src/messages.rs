//! Every MCP message type of every protocol version (2024-11-05 to 2026-07-28), in both
//! directions, and what the airlock does to it: checked, cleaned, narrowed, or relayed untouched —
//! with the reason. The doors decide by this table ([`server_message_cleaned`]), a test holds it
//! to the specification's own schemas (every method of every version is here, with the versions
//! it belongs to), and `docs/messages.md` is generated from it ([`markdown`]), so the table
//! cannot go stale.
//!
//! The rule behind it: everything a model or a person reads is cleaned; what goes to the server
//! is checked (`tools/call`) or narrowed (roots); what carries only the protocol's own fields
//! (ids, list-changed signals) passes untouched. A method the table does not know (a custom one,
//! or a newer version's) is cleaned when the server sends it.

/// Who sends a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// The client (the agent's side).
    Client,
    /// The server.
    Server,
}

/// What kind of message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A request (its answer comes back from the other side).
    Request,
    /// A notification.
    Notification,
}

/// What the airlock does to a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Treatment {
    /// Decided by the engine before the server sees it (a refusal is answered by the airlock).
    Checked,
    /// Every text a model or a person reads is masked (errors included).
    Cleaned,
    /// Tools learned (pinned), those the caller may never call removed, texts cleaned.
    Learned,
    /// Roots narrowed to `filesystem.allowed_roots`.
    Narrowed,
    /// Says the airlock honours the tool list notices it sends itself.
    Declared,
    /// Passed on as sent: it carries nothing a reader sees, or it goes to the server.
    Untouched,
}

impl Treatment {
    fn as_str(self) -> &'static str {
        match self {
            Treatment::Checked => "checked",
            Treatment::Cleaned => "cleaned",
            Treatment::Learned => "learned, filtered, cleaned",
            Treatment::Narrowed => "roots narrowed",
            Treatment::Declared => "declares the airlock's own notices",
            Treatment::Untouched => "untouched",
        }
    }
}

/// One message type.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// The method.
    pub method: &'static str,
    /// Who sends it.
    pub sender: Sender,
    /// Request or notification.
    pub kind: Kind,
    /// The protocol versions that have it.
    pub versions: &'static [&'static str],
    /// What happens to the message.
    pub message: Treatment,
    /// What happens to its answer (requests only).
    pub answer: Option<Treatment>,
    /// Why.
    pub why: &'static str,
}

const ALL: &[&str] = &[
    "2024-11-05",
    "2025-03-26",
    "2025-06-18",
    "2025-11-25",
    "2026-07-28",
];
const HANDSHAKE: &[&str] = &["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const V2025_06: &[&str] = &["2025-06-18", "2025-11-25"];
const V2025_11: &[&str] = &["2025-11-25"];
const V2026: &[&str] = &["2026-07-28"];

use Kind::{Notification, Request};
use Sender::{Client, Server};
use Treatment::{Checked, Cleaned, Declared, Learned, Narrowed, Untouched};

/// Every message type there is.
pub const RULES: &[Rule] = &[
    // ── the client asks ─────────────────────────────────────────────────────────────────────
    Rule {
        method: "initialize",
        sender: Client,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Cleaned),
        why: "the request carries the client's capabilities and proposed version (noted); the answer's instructions and server description reach the model, and it settles the session's version; through `airlock run` and the rmcp wrapper the answer declares `tools.listChanged`, which they send themselves (the gateway sends none of its own and declares nothing)",
    },
    Rule {
        method: "server/discover",
        sender: Client,
        kind: Request,
        versions: V2026,
        message: Untouched,
        answer: Some(Cleaned),
        why: "the answer's instructions reach the model; through `airlock run` and the rmcp wrapper it declares `tools.listChanged`, which they send themselves (on each `subscriptions/listen` stream that asks for it, and the rmcp wrapper honours that filter itself where its handler does not; the gateway sends none of its own and declares nothing)",
    },
    Rule {
        method: "ping",
        sender: Client,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Cleaned),
        why: "nothing to check; an answer is empty, but a server's error text is read",
    },
    Rule {
        method: "tools/list",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Learned),
        why: "the definitions feed the checks and their pins; tools the caller may never call are hidden; descriptions reach the model",
    },
    Rule {
        method: "tools/call",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Checked,
        answer: Some(Cleaned),
        why: "the call is decided before the server sees it; the result (content, resources and their text blobs, links, annotations, structured content, _meta, errors, input requests) reaches the model",
    },
    Rule {
        method: "resources/list",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Cleaned),
        why: "names, titles, descriptions and URIs reach the model",
    },
    Rule {
        method: "resources/templates/list",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Cleaned),
        why: "names, titles, descriptions and URI templates reach the model",
    },
    Rule {
        method: "resources/read",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Cleaned),
        why: "contents reach the model: text, and text-typed blobs decoded, cleaned and encoded again; binary blobs are left alone",
    },
    Rule {
        method: "resources/subscribe",
        sender: Client,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Cleaned),
        why: "nothing to check; the answer is empty but for errors",
    },
    Rule {
        method: "resources/unsubscribe",
        sender: Client,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Cleaned),
        why: "nothing to check; the answer is empty but for errors",
    },
    Rule {
        method: "prompts/list",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Cleaned),
        why: "prompt names, titles, descriptions and argument descriptions reach the model",
    },
    Rule {
        method: "prompts/get",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Cleaned),
        why: "the prompt's messages go to the model",
    },
    Rule {
        method: "completion/complete",
        sender: Client,
        kind: Request,
        versions: ALL,
        message: Untouched,
        answer: Some(Cleaned),
        why: "completion values are shown to the user",
    },
    Rule {
        method: "logging/setLevel",
        sender: Client,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Cleaned),
        why: "nothing to check; the answer is empty but for errors",
    },
    Rule {
        method: "tasks/get",
        sender: Client,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Cleaned),
        why: "a task's status message reaches the model",
    },
    Rule {
        method: "tasks/list",
        sender: Client,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Cleaned),
        why: "tasks' status messages reach the model",
    },
    Rule {
        method: "tasks/result",
        sender: Client,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Cleaned),
        why: "the result of a task-augmented tool call reaches the model like any tool result",
    },
    Rule {
        method: "tasks/cancel",
        sender: Client,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Cleaned),
        why: "the cancelled task's status message reaches the model",
    },
    Rule {
        method: "subscriptions/listen",
        sender: Client,
        kind: Request,
        versions: V2026,
        message: Untouched,
        answer: Some(Cleaned),
        why: "the notifications of the stream are cleaned one by one (below); through `airlock run` and the rmcp wrapper, a stream that asks for `toolsListChanged` also carries the airlock's own tool list notices, named for the stream, once it is acknowledged (the wrapper acknowledges tool changes on a handler's behalf, every session's stream: its sessions share one view of the tools); a cancelled or answered stream carries none",
    },
    // ── the client tells ────────────────────────────────────────────────────────────────────
    Rule {
        method: "notifications/initialized",
        sender: Client,
        kind: Notification,
        versions: HANDSHAKE,
        message: Untouched,
        answer: None,
        why: "goes to the server; nothing a reader sees",
    },
    Rule {
        method: "notifications/cancelled",
        sender: Client,
        kind: Notification,
        versions: ALL,
        message: Untouched,
        answer: None,
        why: "goes to the server; over HTTP it also ends the cancelled request's stream",
    },
    Rule {
        method: "notifications/progress",
        sender: Client,
        kind: Notification,
        versions: HANDSHAKE,
        message: Untouched,
        answer: None,
        why: "goes to the server",
    },
    Rule {
        method: "notifications/roots/list_changed",
        sender: Client,
        kind: Notification,
        versions: HANDSHAKE,
        message: Untouched,
        answer: None,
        why: "goes to the server; the roots themselves are narrowed when it asks for them",
    },
    Rule {
        method: "notifications/tasks/status",
        sender: Client,
        kind: Notification,
        versions: V2025_11,
        message: Untouched,
        answer: None,
        why: "goes to the server",
    },
    // ── the server asks ─────────────────────────────────────────────────────────────────────
    Rule {
        method: "ping",
        sender: Server,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Untouched),
        why: "carries nothing a reader sees",
    },
    Rule {
        method: "roots/list",
        sender: Server,
        kind: Request,
        versions: HANDSHAKE,
        message: Untouched,
        answer: Some(Narrowed),
        why: "the client's roots are narrowed to the configured ones, so a client cannot widen a server's reach (2026-07-28: the roots come back in a retried request's inputResponses, narrowed the same way)",
    },
    Rule {
        method: "sampling/createMessage",
        sender: Server,
        kind: Request,
        versions: HANDSHAKE,
        message: Cleaned,
        answer: Some(Untouched),
        why: "its messages and system prompt go straight to the client's model; the client's answer goes to the server (2026-07-28: an input request inside an input_required result, cleaned with it)",
    },
    Rule {
        method: "elicitation/create",
        sender: Server,
        kind: Request,
        versions: V2025_06,
        message: Cleaned,
        answer: Some(Untouched),
        why: "its message and the texts of its requested schema are shown to the user; the user's answer goes to the server (2026-07-28: an input request, cleaned with its result)",
    },
    Rule {
        method: "tasks/get",
        sender: Server,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Untouched),
        why: "asks the client about its own task: ids only, and the answer goes to the server",
    },
    Rule {
        method: "tasks/list",
        sender: Server,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Untouched),
        why: "asks the client about its own tasks; the answer goes to the server",
    },
    Rule {
        method: "tasks/result",
        sender: Server,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Untouched),
        why: "asks the client for its own task's result; the answer goes to the server",
    },
    Rule {
        method: "tasks/cancel",
        sender: Server,
        kind: Request,
        versions: V2025_11,
        message: Untouched,
        answer: Some(Untouched),
        why: "asks the client to cancel its own task: ids only",
    },
    // ── the server tells ────────────────────────────────────────────────────────────────────
    Rule {
        method: "notifications/message",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Cleaned,
        answer: None,
        why: "log lines and their data are shown to the user and often to the model",
    },
    Rule {
        method: "notifications/progress",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Cleaned,
        answer: None,
        why: "the progress message is shown to the user",
    },
    Rule {
        method: "notifications/cancelled",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Cleaned,
        answer: None,
        why: "the reason may be shown",
    },
    Rule {
        method: "notifications/resources/updated",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Cleaned,
        answer: None,
        why: "the URI (and, in 2026-07-28, the title) may be shown",
    },
    Rule {
        method: "notifications/tasks/status",
        sender: Server,
        kind: Notification,
        versions: V2025_11,
        message: Cleaned,
        answer: None,
        why: "the status message reaches the model",
    },
    Rule {
        method: "notifications/tools/list_changed",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Untouched,
        answer: None,
        why: "a signal only; it marks the airlock's tool list stale, so the next call fetches it again",
    },
    Rule {
        method: "notifications/resources/list_changed",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Untouched,
        answer: None,
        why: "a signal only",
    },
    Rule {
        method: "notifications/prompts/list_changed",
        sender: Server,
        kind: Notification,
        versions: ALL,
        message: Untouched,
        answer: None,
        why: "a signal only",
    },
    Rule {
        method: "notifications/elicitation/complete",
        sender: Server,
        kind: Notification,
        versions: V2025_11,
        message: Untouched,
        answer: None,
        why: "an elicitation id only",
    },
    Rule {
        method: "notifications/subscriptions/acknowledged",
        sender: Server,
        kind: Notification,
        versions: V2026,
        message: Declared,
        answer: None,
        why: "a subscription id and the filter honoured; through `airlock run`, where the client asked for `toolsListChanged` the filter says it is honoured (the airlock sends its own notices), whatever the server honours",
    },
];

/// The rule of `method` as sent by `sender`.
pub fn rule(method: &str, sender: Sender) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.method == method && r.sender == sender)
}

/// Whether a request or notification the server sends with this method is cleaned. A method
/// the table does not know is cleaned (a server may put anything in it).
pub fn server_message_cleaned(method: &str) -> bool {
    rule(method, Sender::Server).is_none_or(|r| r.message == Treatment::Cleaned)
}

/// `docs/messages.md`, generated from [`RULES`].
pub fn markdown() -> String {
    let mut out = String::from(
        "# Every MCP message, and what the airlock does to it\n\n\
         Generated from `crates/airlock-mcp/src/messages.rs` (`AIRLOCK_BLESS=1 cargo test -p airlock-mcp --test messages` \
         writes it; the test fails when it is stale, and when a method of a vendored schema is missing or has other \
         versions). The same rules hold through `airlock run`, `airlock serve` and, for what a handler returns, the rmcp \
         wrapper.\n\n\
         - **cleaned**: every text a model or a person reads is masked by the result cleaner (`[sanitize]`): texts and \
         descriptions at any depth, `_meta`, annotations, resource links, free JSON (`structuredContent`, log and error \
         `data`) with its keys as context, and text-typed resource blobs (decoded, cleaned, encoded again). Left alone: \
         the protocol's own fields (ids, methods, `type`, `mimeType`, `role`, cursors, progress tokens, versions, \
         statuses), **image and audio data and binary blobs**, and in tool schemas everything but `description` and \
         `title`. A message the cleaner cannot check is withheld: an answer becomes an error for its request, a server \
         request is answered with an error, a notification is dropped.\n\
         - **checked**: decided by the engine's checks before the server sees it.\n\
         - **untouched**: passed on as sent (over stdio byte for byte).\n\
         - Any request answering input requests (2026-07-28 `inputResponses`) has its roots narrowed. JSON-RPC errors \
         a server sends are always cleaned. A method not in this table is cleaned when the server sends it.\n\n\
         | method | sent by | kind | versions | the message | its answer | why |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in RULES {
        let versions = if r.versions == ALL {
            "all".to_owned()
        } else {
            r.versions.join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            r.method,
            match r.sender {
                Sender::Client => "client",
                Sender::Server => "server",
            },
            match r.kind {
                Kind::Request => "request",
                Kind::Notification => "notification",
            },
            versions,
            r.message.as_str(),
            r.answer.map_or("—", Treatment::as_str),
            r.why
        ));
    }
    out
}
