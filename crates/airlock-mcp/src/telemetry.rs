//! OpenTelemetry traces and metrics, exported over OTLP (HTTP/protobuf) by the doors'
//! own tokio runtime: `[telemetry]`, and the standard `OTEL_*` variables for whatever it
//! leaves unset.
//!
//! Spans follow the OpenTelemetry MCP semantic conventions where they exist: one `SERVER`
//! span per client request (`tools/call get_weather`, `tools/list`, …) with `mcp.method.name`,
//! `mcp.session.id`, `mcp.protocol.version`, `jsonrpc.request.id`, `gen_ai.tool.name` and
//! `error.type`; and the airlock's own attributes (`airlock.decision`, `airlock.refusal.code`,
//! `airlock.check`). A `tools/call` span has children: `airlock.check` (the decision),
//! `tools/list` (a `CLIENT` span when the tool list had to be fetched first), `tools/call X`
//! (the `CLIENT` span of the upstream call, all its attempts) and `airlock.clean` (the
//! result's masking). W3C trace context comes from the request's `params._meta`
//! (`traceparent`, `tracestate`), else from the HTTP headers, and goes on to the server in the
//! forwarded call's `params._meta`, naming the upstream span as parent.
//!
//! Metrics: calls by tool and decision, refusals by code, how allowed calls ended, masked values
//! by type, breaker states, budget spend, sessions open, and latency histograms (the check, the
//! upstream call, the whole request as `mcp.server.operation.duration`). Tool names are labels
//! only for tools the server listed (others count as `(unlisted)`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use airlock_core::Engine;
use airlock_core::config::{TelemetrySettings, redact_url};
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status, TraceContextExt, Tracer as _};
use opentelemetry::trace::{SpanRef, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request as HttpRequest, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use serde_json::{Map, Value};

/// Where the telemetry goes and what is measured. Share it (`Arc<Telemetry>`); call
/// [`Telemetry::shutdown`] before the process exits so that the last batch is sent.
pub struct Telemetry {
    engine: Arc<Engine>,
    tracer: Option<SdkTracer>,
    tracers: Option<SdkTracerProvider>,
    meters: Option<SdkMeterProvider>,
    instruments: Option<Arc<Instruments>>,
    sessions: Arc<OnceLock<Box<dyn Fn() -> usize + Send + Sync>>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("traces", &self.tracer.is_some())
            .field("metrics", &self.meters.is_some())
            .finish()
    }
}

struct Instruments {
    calls: Counter<u64>,
    refusals: Counter<u64>,
    outcomes: Counter<u64>,
    check: Histogram<f64>,
    upstream: Histogram<f64>,
    operation: Histogram<f64>,
}

/// The methods of the MCP specification a client sends (labels of the operation histogram).
const MCP_METHODS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
    "tasks/get",
    "tasks/list",
    "tasks/result",
    "tasks/cancel",
];

/// The method label of the operation histogram, from a closed set: a method of the
/// specification, else `(other)` (a caller cannot grow the series by inventing methods, nor by
/// sending a request named `notifications/…`).
fn method_label(method: &str) -> &'static str {
    MCP_METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("(other)")
}

/// An OTLP endpoint variable, per signal or general.
const ENDPOINT_VARS: [&str; 3] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
];

/// Latency buckets in seconds ([`crate::metrics::LATENCY_BUCKETS`]).
fn buckets() -> Vec<f64> {
    crate::metrics::LATENCY_BUCKETS.to_vec()
}

impl Telemetry {
    /// Telemetry as `settings` (and the `OTEL_*` variables) ask, for the calls `engine`
    /// decides; `interval` is `[telemetry] metrics_interval` parsed. `Ok(None)`: it is off —
    /// also when only an endpoint variable turned it on and an `OTEL_EXPORTER_OTLP_*PROTOCOL`
    /// variable asks for another protocol than HTTP/protobuf (logged at warn); with
    /// `[telemetry] enabled = true` that is an `Err`. Must be called inside a tokio runtime:
    /// the exports run on it.
    pub fn start(
        settings: &TelemetrySettings,
        interval: Option<Duration>,
        engine: Arc<Engine>,
    ) -> Result<Option<Arc<Telemetry>>, String> {
        Telemetry::start_with(settings, interval, engine, |name| std::env::var(name).ok())
    }

    /// [`Telemetry::start`] reading the `OTEL_*` variables through `var`.
    fn start_with(
        settings: &TelemetrySettings,
        interval: Option<Duration>,
        engine: Arc<Engine>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Arc<Telemetry>>, String> {
        let env = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            if settings.enabled == Some(true) {
                tracing::warn!("[telemetry] is enabled, but OTEL_SDK_DISABLED=true turns it off");
            }
            return Ok(None);
        }
        let enabled = settings
            .enabled
            .unwrap_or_else(|| ENDPOINT_VARS.iter().any(|v| env(v).is_some()));
        if !enabled {
            return Ok(None);
        }
        let off = |var: &str| env(var).is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let traces = settings.traces && !off("OTEL_TRACES_EXPORTER");
        let metrics = settings.metrics && !off("OTEL_METRICS_EXPORTER");
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ] {
            if let Some(p) = env(name)
                && p != "http/protobuf"
            {
                let problem = format!(
                    "{name}={p}: this build exports OTLP over HTTP/protobuf only; set it to http/protobuf or unset it"
                );
                // Asked for in the configuration: refuse to start. Only implied by an endpoint
                // variable (meant perhaps for another program): run without telemetry.
                if settings.enabled == Some(true) {
                    return Err(problem);
                }
                tracing::warn!("OpenTelemetry is off: {problem}");
                return Ok(None);
            }
        }
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| "telemetry needs a tokio runtime to export on".to_owned())?;
        crate::install_tls_provider();
        let timeout = env("OTEL_EXPORTER_OTLP_TIMEOUT")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| format!("cannot build the OTLP HTTP client: {e}"))?;
        let client: Arc<dyn HttpClient> = Arc::new(OnRuntime { client, rt });
        let mut resource = opentelemetry_sdk::Resource::builder();
        match (&settings.service_name, env("OTEL_SERVICE_NAME")) {
            (Some(name), _) => resource = resource.with_service_name(name.clone()),
            (None, Some(_)) => {}
            (None, None) => resource = resource.with_service_name("agent-airlock"),
        }
        let resource = resource
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        let endpoint = |path: &str| {
            settings
                .endpoint
                .as_ref()
                .map(|base| format!("{}{path}", base.trim_end_matches('/')))
        };
        let (tracer, tracers) = if traces {
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_shared_http_client(client.clone());
            if let Some(url) = endpoint("/v1/traces") {
                b = b.with_endpoint(url);
            }
            let exporter = b
                .build()
                .map_err(|e| format!("cannot build the OTLP span exporter: {e}"))?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.clone())
                .build();
            (Some(provider.tracer("agent-airlock")), Some(provider))
        } else {
            (None, None)
        };
        let sessions: Arc<OnceLock<Box<dyn Fn() -> usize + Send + Sync>>> = Arc::default();
        let (meters, instruments) = if metrics {
            let mut b = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_shared_http_client(client);
            if let Some(url) = endpoint("/v1/metrics") {
                b = b.with_endpoint(url);
            }
            let exporter = b
                .build()
                .map_err(|e| format!("cannot build the OTLP metric exporter: {e}"))?;
            let mut reader = PeriodicReader::builder(exporter);
            if let Some(d) = interval {
                reader = reader.with_interval(d);
            }
            let provider = SdkMeterProvider::builder()
                .with_reader(reader.build())
                .with_resource(resource)
                .build();
            let instruments = instruments(&provider, &engine, &sessions);
            (Some(provider), Some(Arc::new(instruments)))
        } else {
            (None, None)
        };
        let to = settings
            .endpoint
            .clone()
            .or_else(|| ENDPOINT_VARS.iter().find_map(|v| env(v)))
            .map_or_else(
                || "http://localhost:4318".to_owned(),
                |url| redact_url(&url),
            );
        tracing::info!(
            traces,
            metrics,
            "OpenTelemetry: exporting over OTLP/HTTP to {to}"
        );
        Ok(Some(Arc::new(Telemetry {
            engine,
            tracer,
            tracers,
            meters,
            instruments,
            sessions,
        })))
    }

    /// Count sessions open with `count` (the `airlock.sessions.open` gauge). The first call wins.
    pub(crate) fn count_sessions(&self, count: impl Fn() -> usize + Send + Sync + 'static) {
        let _ = self.sessions.set(Box::new(count));
    }

    /// Send what is buffered and stop. Blocks (up to the exporters' timeouts): call it outside
    /// the async runtime's worker threads, e.g. in `spawn_blocking`.
    pub fn shutdown(&self) {
        if let Some(p) = &self.tracers
            && let Err(e) = p.shutdown()
        {
            tracing::warn!("the last spans could not be exported: {e}");
        }
        if let Some(p) = &self.meters
            && let Err(e) = p.shutdown()
        {
            tracing::warn!("the last metrics could not be exported: {e}");
        }
    }

    /// The tool label of a metric: the name for a tool the server listed, else `(unlisted)` (a
    /// caller cannot grow the series by inventing names).
    fn tool_label(&self, tool: &str) -> String {
        if self.engine.catalog().get(tool).is_some() {
            tool.to_owned()
        } else {
            "(unlisted)".to_owned()
        }
    }

    /// A decision on a call of `tool` (`None`: a tool the server did not list): `decision`
    /// (`allowed`, `refused`, `honeypot`), the refusal code, and how long deciding took.
    pub(crate) fn decided(
        &self,
        tool: Option<&str>,
        decision: &'static str,
        code: Option<&str>,
        took: Duration,
    ) {
        let Some(m) = &self.instruments else { return };
        m.calls.add(
            1,
            &[
                KeyValue::new("gen_ai.tool.name", tool.unwrap_or("(unlisted)").to_owned()),
                KeyValue::new("airlock.decision", decision),
            ],
        );
        if let Some(code) = code {
            m.refusals
                .add(1, &[KeyValue::new("airlock.refusal.code", code.to_owned())]);
        }
        m.check.record(took.as_secs_f64(), &[]);
    }

    /// How an allowed call of `tool` (a listed one: only those are forwarded) ended
    /// (`succeeded`, `tool_error`, …), `took` after it was forwarded.
    pub(crate) fn ended(&self, tool: &str, outcome: &'static str, took: Duration) {
        let Some(m) = &self.instruments else { return };
        let tool = KeyValue::new("gen_ai.tool.name", tool.to_owned());
        m.outcomes.add(
            1,
            &[tool.clone(), KeyValue::new("airlock.outcome", outcome)],
        );
        m.upstream.record(took.as_secs_f64(), &[tool]);
    }

    /// The `SERVER` span of one client request (without traces, only its timer for the
    /// operation histogram), or `None` when telemetry exports nothing. Its parent is the trace
    /// context in `meta` (the request's `params._meta`), else in `headers`; without either it
    /// starts a trace. End it with [`Trace::answered`].
    pub(crate) fn request(&self, request: Request<'_>) -> Option<Trace> {
        if self.tracer.is_none() && self.instruments.is_none() {
            return None;
        }
        let method = request.method;
        // Without traces, the request still has its timer (`mcp.server.operation.duration`),
        // in a context without a span; the span's name and attributes are made only for a span.
        let cx = match &self.tracer {
            Some(tracer) => {
                let (name, attributes) = span_of(&request);
                let parent = parent_context(request.meta, request.headers);
                let span = tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Server)
                    .with_attributes(attributes)
                    .start_with_context(tracer, &parent);
                parent.with_span(span)
            }
            None => Context::new(),
        };
        let operation = self.instruments.clone().map(|m| {
            let mut labels = vec![KeyValue::new("mcp.method.name", method_label(method))];
            if let Some(tool) = request.target.filter(|_| method == "tools/call") {
                labels.push(KeyValue::new("gen_ai.tool.name", self.tool_label(tool)));
            }
            (m, labels)
        });
        Some(Trace(Arc::new(TraceInner {
            cx,
            started: Instant::now(),
            ended: AtomicBool::new(false),
            operation,
        })))
    }

    /// A child span of `parent`, named `name`, of `kind`.
    pub(crate) fn child(&self, parent: &Trace, name: String, kind: SpanKind) -> Option<Trace> {
        let tracer = self.tracer.as_ref()?;
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .start_with_context(tracer, &parent.0.cx);
        Some(Trace(Arc::new(TraceInner {
            cx: parent.0.cx.with_span(span),
            started: Instant::now(),
            ended: AtomicBool::new(false),
            operation: None,
        })))
    }
}

/// What a span of one client request is made from ([`Telemetry::request`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Request<'a> {
    /// The JSON-RPC method.
    pub(crate) method: &'a str,
    /// The request's id.
    pub(crate) id: Option<&'a Value>,
    /// What it is about, when low in cardinality: a tool's or a prompt's name.
    pub(crate) target: Option<&'a str>,
    /// Its `params._meta`.
    pub(crate) meta: Option<&'a Map<String, Value>>,
    /// The HTTP request's headers (the HTTP door).
    pub(crate) headers: Option<&'a http::HeaderMap>,
    /// The MCP session's id.
    pub(crate) session: Option<&'a str>,
    /// The protocol version in force.
    pub(crate) version: Option<&'a str>,
    /// `pipe` (stdio) or `tcp` (HTTP).
    pub(crate) transport: &'static str,
}

impl<'a> Request<'a> {
    /// A request's span for `message` (its method, id, tool or prompt name and `_meta`),
    /// arriving over `transport`.
    pub(crate) fn of(message: &'a Value, transport: &'static str) -> Self {
        let method = message.get("method").and_then(Value::as_str).unwrap_or("");
        Request {
            method,
            id: message.get("id"),
            target: message.pointer("/params/name").and_then(Value::as_str),
            meta: message.pointer("/params/_meta").and_then(Value::as_object),
            headers: None,
            session: None,
            version: None,
            transport,
        }
    }
}

/// One span, and its context for children and for the server. Cheap to clone; ends once.
#[derive(Clone)]
pub struct Trace(Arc<TraceInner>);

struct TraceInner {
    cx: Context,
    started: Instant,
    ended: AtomicBool,
    /// The request span's duration histogram and its labels (`None` for a child span).
    operation: Option<(Arc<Instruments>, Vec<KeyValue>)>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Trace")
            .field(&self.0.cx.span().span_context().span_id())
            .finish()
    }
}

impl Trace {
    fn span(&self) -> SpanRef<'_> {
        self.0.cx.span()
    }

    /// Set one attribute.
    pub(crate) fn set(&self, key: &'static str, value: impl Into<opentelemetry::Value>) {
        self.span().set_attribute(KeyValue::new(key, value));
    }

    /// What the airlock decided on a call: the decision, the refusal code and the check.
    pub(crate) fn decision(&self, decision: &'static str, code: Option<&str>, check: Option<&str>) {
        // A request timed without a span (metrics only) records nothing here.
        if !self.span().is_recording() {
            return;
        }
        self.set("airlock.decision", decision);
        if let Some(code) = code {
            self.set("airlock.refusal.code", code.to_owned());
        }
        if let Some(check) = check {
            self.set("airlock.check", check.to_owned());
        }
    }

    /// Put this span's context into `message`'s `params._meta` (`traceparent`, `tracestate`)
    /// for the server: its spans become children of this one.
    pub(crate) fn inject(&self, message: &mut Value) {
        let Some(params) = message.get_mut("params").and_then(Value::as_object_mut) else {
            return;
        };
        let meta = params
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(meta) = meta else { return };
        TraceContextPropagator::new().inject_context(&self.0.cx, &mut MetaInjector(meta));
    }

    /// End the span with what answered the request (a JSON-RPC answer, or a bare result): a
    /// JSON-RPC error or an `isError` result is an error (`error.type`), anything else is not.
    /// Later calls do nothing.
    pub(crate) fn answered(&self, answer: &Value) {
        let error = match (answer.get("error"), answer.get("result").unwrap_or(answer)) {
            (Some(e), _) => Some((
                e.get("code")
                    .and_then(Value::as_i64)
                    .map_or_else(|| "error".to_owned(), |c| c.to_string()),
                e.get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            )),
            (None, r) if r.get("isError") == Some(&Value::Bool(true)) => {
                Some(("tool_error".to_owned(), String::new()))
            }
            _ => None,
        };
        self.end_with(error);
    }

    /// [`Trace::answered`] for an answer still in its bytes (only its error, if any, is read).
    pub(crate) fn answered_bytes(&self, answer: &[u8]) {
        if self.0.ended.load(Ordering::Acquire) {
            return;
        }
        #[derive(serde::Deserialize)]
        struct Answer {
            #[serde(default)]
            error: Option<ErrorPart>,
            #[serde(default)]
            result: Option<ResultPart>,
        }
        #[derive(serde::Deserialize)]
        struct ErrorPart {
            #[serde(default)]
            code: Option<i64>,
            #[serde(default)]
            message: Option<String>,
        }
        #[derive(serde::Deserialize)]
        struct ResultPart {
            #[serde(rename = "isError", default)]
            is_error: Option<bool>,
        }
        let error = match serde_json::from_slice::<Answer>(answer) {
            Ok(Answer { error: Some(e), .. }) => Some((
                e.code.map_or_else(|| "error".to_owned(), |c| c.to_string()),
                e.message.unwrap_or_default(),
            )),
            Ok(Answer {
                result:
                    Some(ResultPart {
                        is_error: Some(true),
                    }),
                ..
            }) => Some(("tool_error".to_owned(), String::new())),
            _ => None,
        };
        self.end_with(error);
    }

    /// End the span, marked failed with `error.type` when `error` is `Some((type, message))`.
    pub(crate) fn end_with(&self, error: Option<(String, String)>) {
        if self.0.ended.swap(true, Ordering::AcqRel) {
            return;
        }
        let span = self.span();
        let mut labels = self
            .0
            .operation
            .as_ref()
            .map(|(_, l)| l.clone())
            .unwrap_or_default();
        if let Some((kind, message)) = error {
            if kind.parse::<i64>().is_ok() {
                span.set_attribute(KeyValue::new("rpc.response.status_code", kind.clone()));
            }
            span.set_attribute(KeyValue::new("error.type", kind.clone()));
            span.set_status(Status::error(message));
            labels.push(KeyValue::new("error.type", kind));
        }
        span.end();
        if let Some((m, _)) = &self.0.operation {
            m.operation
                .record(self.0.started.elapsed().as_secs_f64(), &labels);
        }
    }

    /// End the span without an error.
    pub(crate) fn end(&self) {
        self.end_with(None);
    }
}

/// The name and attributes of a request's `SERVER` span.
fn span_of(request: &Request<'_>) -> (String, Vec<KeyValue>) {
    let method = request.method;
    let mut attributes = vec![KeyValue::new("mcp.method.name", method.to_owned())];
    if !request.transport.is_empty() {
        attributes.push(KeyValue::new("network.transport", request.transport));
    }
    if let Some(id) = request.id {
        let id = match id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        attributes.push(KeyValue::new("jsonrpc.request.id", id));
    }
    if let Some(s) = request.session {
        attributes.push(KeyValue::new("mcp.session.id", s.to_owned()));
    }
    if let Some(v) = request.version {
        attributes.push(KeyValue::new("mcp.protocol.version", v.to_owned()));
    }
    let name = match (method, request.target) {
        ("tools/call", Some(tool)) => {
            attributes.push(KeyValue::new("gen_ai.tool.name", tool.to_owned()));
            attributes.push(KeyValue::new("gen_ai.operation.name", "execute_tool"));
            format!("{method} {tool}")
        }
        ("prompts/get", Some(prompt)) => {
            attributes.push(KeyValue::new("gen_ai.prompt.name", prompt.to_owned()));
            format!("{method} {prompt}")
        }
        _ => method.to_owned(),
    };
    (name, attributes)
}

/// The parent of a request's span: the W3C trace context in `_meta`, else in the headers.
fn parent_context(meta: Option<&Map<String, Value>>, headers: Option<&http::HeaderMap>) -> Context {
    let propagator = TraceContextPropagator::new();
    if let Some(meta) = meta.filter(|m| m.contains_key("traceparent")) {
        return propagator.extract(&MetaExtractor(meta));
    }
    if let Some(h) = headers.filter(|h| h.contains_key("traceparent")) {
        return propagator.extract(&opentelemetry_http::HeaderExtractor(h));
    }
    Context::new()
}

struct MetaExtractor<'a>(&'a Map<String, Value>);

impl Extractor for MetaExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(Value::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

struct MetaInjector<'a>(&'a mut Map<String, Value>);

impl Injector for MetaInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), Value::String(value));
    }
}

/// The OTLP exporters' HTTP client: the gateway's reqwest, run on the tokio runtime (the SDK
/// exports from threads of its own).
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    rt: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: HttpRequest<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let sent = self.rt.spawn(async move {
            let (parts, body) = request.into_parts();
            let answer = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = answer.status();
            let headers = answer.headers().clone();
            let body = answer.bytes().await?;
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            Ok::<_, HttpError>(response)
        });
        sent.await.map_err(|e| Box::new(e) as HttpError)?
    }
}

/// Every instrument, the observed ones reading `engine` and `sessions` when metrics are
/// collected.
fn instruments(
    provider: &SdkMeterProvider,
    engine: &Arc<Engine>,
    sessions: &Arc<OnceLock<Box<dyn Fn() -> usize + Send + Sync>>>,
) -> Instruments {
    let meter = provider.meter("agent-airlock");
    let e = engine.clone();
    meter
        .u64_observable_counter("airlock.masked")
        .with_description("Values masked in tool results, by type")
        .with_unit("{value}")
        .with_callback(move |o| {
            for (kind, n) in e.masked() {
                o.observe(n, &[KeyValue::new("airlock.mask.type", kind)]);
            }
        })
        .build();
    let e = engine.clone();
    meter
        .i64_observable_gauge("airlock.breaker.state")
        .with_description("Circuit breakers: 0 closed, 1 half open (one probe let through), 2 open")
        .with_callback(move |o| {
            for (key, value) in e.breaker_gauges() {
                o.observe(value, &[KeyValue::new("airlock.breaker", key)]);
            }
        })
        .build();
    let e = engine.clone();
    meter
        .f64_observable_counter("airlock.budget.spend")
        .with_description("What each budget has charged since start, by measure (calls, argument_bytes, result_bytes, tokens, cost)")
        .with_callback(move |o| {
            for (name, spend) in e.budget_totals() {
                for (measure, v) in spend.fields() {
                    o.observe(
                        v,
                        &[
                            KeyValue::new("airlock.budget", name.to_owned()),
                            KeyValue::new("airlock.budget.measure", measure),
                        ],
                    );
                }
            }
        })
        .build();
    let s = sessions.clone();
    meter
        .i64_observable_gauge("airlock.sessions.open")
        .with_description("MCP sessions open")
        .with_unit("{session}")
        .with_callback(move |o| {
            let n = s.get().map_or(1, |count| count());
            o.observe(i64::try_from(n).unwrap_or(i64::MAX), &[]);
        })
        .build();
    Instruments {
        calls: meter
            .u64_counter("airlock.calls")
            .with_description("Tool calls by tool and decision (allowed, refused, honeypot)")
            .with_unit("{call}")
            .build(),
        refusals: meter
            .u64_counter("airlock.refusals")
            .with_description("Refused tool calls by code")
            .with_unit("{call}")
            .build(),
        outcomes: meter
            .u64_counter("airlock.call.outcomes")
            .with_description("How allowed tool calls ended, by tool (succeeded, tool_error, rpc_error, timed_out, unreachable, unknown)")
            .with_unit("{call}")
            .build(),
        check: meter
            .f64_histogram("airlock.check.duration")
            .with_description("Time to decide on a tool call")
            .with_unit("s")
            .with_boundaries(buckets())
            .build(),
        upstream: meter
            .f64_histogram("airlock.upstream.duration")
            .with_description("Time from forwarding an allowed tool call to its answer")
            .with_unit("s")
            .with_boundaries(buckets())
            .build(),
        operation: meter
            .f64_histogram("mcp.server.operation.duration")
            .with_description("MCP request duration as observed by the airlock, from receiving it to answering")
            .with_unit("s")
            .with_boundaries(buckets())
            .build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_come_from_the_specification_only() {
        for (method, label) in [
            ("tools/call", "tools/call"),
            ("initialize", "initialize"),
            ("resources/templates/list", "resources/templates/list"),
            // A request may carry any method name: invented ones share one series.
            ("tools/evil", "(other)"),
            ("notifications/initialized", "(other)"),
            ("notifications/a8f3c1", "(other)"),
            ("", "(other)"),
        ] {
            assert_eq!(method_label(method), label, "{method:?}");
        }
    }

    #[test]
    fn a_grpc_protocol_variable_turns_implied_telemetry_off_and_refuses_asked_for_telemetry() {
        let engine = Arc::new(agent_airlock::engine(agent_airlock::Config::default()).unwrap());
        for protocol in [
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        ] {
            let var = |name: &str| match name {
                "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:4317".to_owned()),
                n if n == protocol => Some("grpc".to_owned()),
                _ => None,
            };
            // Only the endpoint variable turns it on: the proxy runs, without telemetry.
            let implied = TelemetrySettings::default();
            let started = Telemetry::start_with(&implied, None, engine.clone(), var);
            assert!(matches!(started, Ok(None)), "{protocol}: {started:?}");
            // `[telemetry] enabled = true`: the operator asked for it, so it refuses.
            let asked = TelemetrySettings {
                enabled: Some(true),
                ..TelemetrySettings::default()
            };
            let err = Telemetry::start_with(&asked, None, engine.clone(), var).unwrap_err();
            assert!(
                err.contains(&format!("{protocol}=grpc")) && err.contains("http/protobuf"),
                "{err}"
            );
        }
    }
}
