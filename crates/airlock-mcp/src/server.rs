//! The library way: an [`rmcp`] server handler behind the airlock, in one line.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use airlock_mcp::server::Guard;
//! # async fn run<H: rmcp::ServerHandler>(my_handler: H) -> Result<(), Box<dyn std::error::Error>> {
//! use rmcp::ServiceExt;
//! let engine = Arc::new(agent_airlock::engine(agent_airlock::config_from_env()?)?);
//! let server = my_handler.guarded(engine).serve(rmcp::transport::stdio()).await?;
//! # Ok(()) }
//! ```
//!
//! [`Guarded`] implements every method of [`ServerHandler`] by handing it to the wrapped
//! handler — nothing falls back to rmcp's defaults ("method not found") — except two, which go
//! through the one call lifecycle ([`crate::lifecycle`]) exactly as on the stdio proxy and the
//! HTTP gateway:
//!
//! * `call_tool` is admitted or refused first. A refusal is answered as a tool result with
//!   `isError: true`, the refusal text and `_meta["airlock/refusal"]`, and the handler never
//!   runs; an allowed call runs with the arguments as decided, and its result (or error) is
//!   recorded and cleaned before the client sees it. A tool the engine has not seen is looked up
//!   first (every page of the handler's `list_tools`): it never checks blind.
//! * `list_tools` answers teach the engine the tools, and lose the ones the caller may never call.
//!
//! rmcp writes `resultType` for sessions of protocol 2026-07-28 and leaves it out for older
//! ones, so the airlock's own results follow the session's version here too.
//!
//! The caller is fixed ([`Guarded::caller`]) or read from each request ([`Guarded::caller_from`],
//! e.g. from the HTTP request parts rmcp puts in the request's extensions).

use std::borrow::Cow;
use std::sync::Arc;

use airlock_core::{CallerContext, Engine};
use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::*;
use rmcp::service::{
    MaybeSendFuture, NotificationContext, Peer, RequestContext, RoleServer, SubscriptionContext,
    SubscriptionSendError, SubscriptionSink,
};
use serde_json::{Value, json};

use crate::lifecycle::{Admission, CallRequest, FromServer, Lifecycle, Ticket};

type CallerFn = dyn Fn(&RequestContext<RoleServer>) -> CallerContext + Send + Sync;

/// An rmcp server handler behind the airlock. Build it with [`Guard::guarded`].
#[derive(Clone)]
pub struct Guarded<H> {
    inner: H,
    lifecycle: Arc<Lifecycle>,
    caller: Arc<CallerFn>,
    fetch: Arc<tokio::sync::Mutex<()>>,
    listens: Arc<std::sync::Mutex<Listens>>,
}

/// The open 2026-07-28 `subscriptions/listen` streams that take tool list changes, of every
/// session the handler (and its clones) serves: they share one lifecycle, so one view of the
/// tools, and a change the airlock finds goes to each of them.
///
/// rmcp acknowledges a stream between asking the handler which notices it accepts and handing
/// it the stream, and a client may call as soon as it has the ack: a change found in between
/// would reach no stream. So each stream being opened for tool changes leaves the count of
/// changes told so far (`opening`, oldest first), and takes the oldest when it is handed over:
/// a change told since then is told on it too. The oldest is at most its own, so none is
/// missed; at worst a stream hears one change twice, and a client lists once more.
#[derive(Default)]
struct Listens {
    next: u64,
    streams: std::collections::BTreeMap<u64, SubscriptionSink>,
    /// The changes told so far.
    told: u64,
    /// `told` when each stream still being opened was accepted, oldest first (at most
    /// [`OPENING`]: one whose ack could not be sent is never handed over).
    opening: std::collections::VecDeque<u64>,
}

/// The most streams [`Listens`] counts as being opened; past that a stream handed over counts
/// every change as new.
const OPENING: usize = 64;

/// A stream's place in [`Listens`], given up when its `listen` ends (or is dropped).
struct Listening {
    listens: Arc<std::sync::Mutex<Listens>>,
    key: u64,
}

impl Drop for Listening {
    fn drop(&mut self) {
        lock(&self.listens).streams.remove(&self.key);
    }
}

/// The lock, also after a panic elsewhere: the map of streams stays whole.
fn lock(listens: &std::sync::Mutex<Listens>) -> std::sync::MutexGuard<'_, Listens> {
    listens
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Who hears that the tool list changed ([`crate::lifecycle::Listed::list_changed`]): each
/// open listen stream that takes tool list changes, and a client of a version before
/// 2026-07-28 as a notification of its session ([`crate::protocol::notifies_plainly`], the
/// stdio proxy's rule too).
struct Teller {
    listens: Arc<std::sync::Mutex<Listens>>,
    session: Option<Peer<RoleServer>>,
}

impl Teller {
    fn of(listens: &Arc<std::sync::Mutex<Listens>>, context: &RequestContext<RoleServer>) -> Self {
        let version = context.protocol_version();
        let plainly = crate::protocol::notifies_plainly(version.as_ref().map(|v| v.as_str()));
        Teller {
            listens: listens.clone(),
            session: plainly.then(|| context.peer.clone()),
        }
    }

    /// The notice on each stream open now, each sent by a task of its own (a send waits until
    /// the message is written, and a session whose client reads nothing must hold up no other;
    /// a stream that ends meanwhile is passed over); then to the session of an older version.
    async fn tell(self) {
        let streams: Vec<SubscriptionSink> = {
            let mut listens = lock(&self.listens);
            listens.told += 1;
            listens.streams.values().cloned().collect()
        };
        for stream in streams {
            tell_stream(stream);
        }
        if let Some(peer) = self.session
            && let Err(e) = peer.notify_tool_list_changed().await
        {
            tracing::warn!("could not tell the client its tool list changed: {e}");
        }
    }
}

/// The notice on one stream, by a task of its own.
fn tell_stream(stream: SubscriptionSink) {
    tokio::spawn(async move {
        match stream.notify_tool_list_changed().await {
            Ok(()) | Err(SubscriptionSendError::SubscriptionClosed) => {}
            Err(e) => tracing::warn!("could not tell a listen stream the tool list changed: {e}"),
        }
    });
}

impl<H> std::fmt::Debug for Guarded<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded").finish_non_exhaustive()
    }
}

/// `handler.guarded(engine)`: put any [`ServerHandler`] behind the airlock.
pub trait Guard: ServerHandler + Sized {
    /// This handler, checked by `engine`.
    fn guarded(self, engine: Arc<Engine>) -> Guarded<Self> {
        Guarded {
            inner: self,
            lifecycle: Arc::new(Lifecycle::new(engine)),
            caller: Arc::new(|_| CallerContext::default()),
            fetch: Arc::new(tokio::sync::Mutex::new(())),
            listens: Arc::default(),
        }
    }
}

impl<H: ServerHandler> Guard for H {}

fn encoding(what: &'static str) -> impl Fn(serde_json::Error) -> McpError {
    move |e| McpError::internal_error(format!("airlock: {what}: {e}"), None)
}

impl<H: ServerHandler> Guarded<H> {
    /// Every call is made by this caller.
    #[must_use]
    pub fn caller(mut self, caller: CallerContext) -> Self {
        self.caller = Arc::new(move |_| caller.clone());
        self
    }

    /// Export OpenTelemetry spans and metrics: each `tools/call` gets a span (its parent from
    /// the request's `params._meta.traceparent`) with the check, upstream and clean children.
    #[must_use]
    pub fn telemetry(mut self, telemetry: Arc<crate::telemetry::Telemetry>) -> Self {
        let engine = self.lifecycle.engine().clone();
        self.lifecycle = Arc::new(Lifecycle::new(engine).with_telemetry(telemetry));
        self
    }

    /// The caller of each request, read from its context.
    #[must_use]
    pub fn caller_from(
        mut self,
        f: impl Fn(&RequestContext<RoleServer>) -> CallerContext + Send + Sync + 'static,
    ) -> Self {
        self.caller = Arc::new(f);
        self
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    /// The lifecycle's one request of its own: a page of the handler's `tools/list`.
    async fn ask(
        &self,
        method: &'static str,
        params: Value,
        context: &RequestContext<RoleServer>,
    ) -> Option<Value> {
        if method != "tools/list" {
            return None;
        }
        let cursor = params
            .get("cursor")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let request = cursor.map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
        let page = self.inner.list_tools(request, context.clone()).await.ok()?;
        Some(json!({"result": serde_json::to_value(page).ok()?}))
    }

    /// The handler's answer, as the client gets it: recorded and cleaned by the lifecycle.
    fn finish(
        &self,
        ticket: &Ticket,
        result: Result<CallToolResponse, McpError>,
    ) -> Result<CallToolResponse, McpError> {
        Ok(match result {
            Ok(CallToolResponse::Complete(r)) => {
                CallToolResponse::Complete(self.through(ticket, r)?)
            }
            Ok(CallToolResponse::InputRequired(r)) => {
                CallToolResponse::InputRequired(self.through(ticket, r)?)
            }
            Ok(CallToolResponse::Task(r)) => CallToolResponse::Task(self.through(ticket, r)?),
            // A kind of result this airlock does not know yet: nothing it could clean.
            Ok(other) => {
                self.lifecycle.finish_unread(ticket);
                other
            }
            Err(e) => {
                let mut answer =
                    json!({"error": {"code": e.code.0, "message": e.message, "data": e.data}});
                self.lifecycle.finish(ticket, &mut answer);
                let message = answer
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                let data = answer
                    .pointer("/error/data")
                    .cloned()
                    .filter(|d| !d.is_null());
                return Err(McpError::new(e.code, message, data));
            }
        })
    }

    /// One typed result through [`Lifecycle::finish`], as JSON and back.
    fn through<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        ticket: &Ticket,
        result: T,
    ) -> Result<T, McpError> {
        let result = serde_json::to_value(result).map_err(encoding("result encoding"))?;
        let mut answer = json!({ "result": result });
        self.lifecycle.finish(ticket, &mut answer);
        serde_json::from_value(answer["result"].take()).map_err(encoding("result encoding"))
    }
}

impl<H: ServerHandler> Guarded<H> {
    /// An error the handler answered, as the client gets it (cleaned).
    fn clean_error(&self, caller: &CallerContext, method: &str, e: McpError) -> McpError {
        match self.clean_answer::<Value>(caller, method, Err(e)) {
            Err(e) => e,
            // An error stays an error.
            Ok(_) => McpError::internal_error("the answer was withheld", None),
        }
    }

    /// What the handler answered a request of `method` (not `tools/call`), as the client gets
    /// it: cleaned as the message table says ([`crate::messages`]); withheld as an error when it
    /// cannot be checked.
    fn clean_answer<T: serde::Serialize + serde::de::DeserializeOwned>(
        &self,
        caller: &CallerContext,
        method: &str,
        result: Result<T, McpError>,
    ) -> Result<T, McpError> {
        if !self.lifecycle.engine().cleans_results() {
            return result;
        }
        let mut answer = match &result {
            Ok(r) => {
                json!({"result": serde_json::to_value(r).map_err(encoding("result encoding"))?})
            }
            Err(e) => json!({"error": {"code": e.code.0, "message": e.message, "data": e.data}}),
        };
        match self
            .lifecycle
            .from_server(caller, Some(method), &mut answer)
        {
            FromServer::Relay => result,
            FromServer::Withheld(why) => Err(McpError::internal_error(
                format!("the answer was withheld: it could not be checked ({why})"),
                None,
            )),
            FromServer::Rewritten => match result {
                Ok(_) => serde_json::from_value(answer["result"].take())
                    .map_err(encoding("result encoding")),
                Err(e) => Err(McpError::new(
                    e.code,
                    answer
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    answer
                        .pointer("/error/data")
                        .cloned()
                        .filter(|d| !d.is_null()),
                )),
            },
        }
    }
}

impl<H: ServerHandler> ServerHandler for Guarded<H> {
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = (self.caller)(&context);
        let params = serde_json::to_value(&request).map_err(encoding("call encoding"))?;
        let call = CallRequest {
            message: json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": params}),
            caller: &caller,
            // Unknown here: the refusal carries `resultType`, which rmcp keeps for 2026-07-28
            // sessions and strips for older ones.
            version: None,
            fetch_lock: &self.fetch,
            trace: None,
            elicit: None,
            remember: true,
        };
        let ask = |method: &'static str, params: Value| self.ask(method, params, &context);
        let admitted = self.lifecycle.admit(call, ask).await;
        let admission = admitted.admission;
        // The list the airlock fetched itself refuses a tool the client may still show.
        if admitted.list_changed {
            Teller::of(&self.listens, &context).tell().await;
        }
        match admission {
            Admission::Answer(answer) => match answer.get("result") {
                Some(result) => {
                    let result: CallToolResult = serde_json::from_value(result.clone())
                        .map_err(encoding("refusal encoding"))?;
                    Ok(result.into())
                }
                None => Err(McpError::invalid_params(
                    answer
                        .pointer("/error/message")
                        .and_then(Value::as_str)
                        .unwrap_or("the call was not accepted")
                        .to_owned(),
                    None,
                )),
            },
            Admission::Forward { request, ticket } => {
                let params: CallToolRequestParams =
                    serde_json::from_value(request.get("params").cloned().unwrap_or(Value::Null))
                        .map_err(encoding("call encoding"))?;
                let mut ticket = ticket;
                let result = loop {
                    let call = self.inner.call_tool(params.clone(), context.clone());
                    let Some(d) = ticket.deadline() else {
                        break call.await;
                    };
                    match tokio::time::timeout(d, call).await {
                        Ok(r) => break r,
                        // The handler's future is dropped: in-process, that is its cancellation.
                        Err(_) => {
                            match self.lifecycle.attempt_failed(
                                &mut ticket,
                                airlock_core::breaker::CallOutcome::TimedOut,
                            ) {
                                Some(wait) => tokio::time::sleep(wait).await,
                                None => {
                                    let (answer, _cancel) =
                                        self.lifecycle.timeout_messages(&ticket);
                                    let result: CallToolResult =
                                        serde_json::from_value(answer["result"].clone())
                                            .map_err(encoding("timeout encoding"))?;
                                    return Ok(result.into());
                                }
                            }
                        }
                    }
                };
                self.finish(&ticket, result)
            }
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = (self.caller)(&context);
        let teller = Teller::of(&self.listens, &context);
        let result = self.inner.list_tools(request, context).await?;
        // A list that cannot be read as JSON is not passed on unfiltered.
        let mut value = serde_json::to_value(&result).map_err(encoding("tool list encoding"))?;
        let listed = self.lifecycle.tools_page_listed(&caller, &mut value);
        if listed.list_changed {
            // A tool shown on an earlier page is refused now: the client lists again (told
            // after this answer).
            tokio::spawn(teller.tell());
        }
        if listed.changed {
            return serde_json::from_value(value).map_err(encoding("tool list encoding"));
        }
        Ok(result)
    }

    // Everything else: the handler's own.

    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.ping(context)
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, McpError>> + MaybeSendFuture + '_ {
        let answer = self.inner.initialize(request, context);
        async move {
            answer.await.map(|mut r| {
                declare_in_capabilities(&mut r.capabilities);
                r
            })
        }
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request).map(|mut r| {
            declare_in_capabilities(&mut r.capabilities);
            r
        })
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, McpError>> + MaybeSendFuture + '_ {
        let answer = self.inner.discover(context);
        async move {
            answer.await.map(|mut r| {
                declare_in_capabilities(&mut r.capabilities);
                r
            })
        }
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, McpError> {
        let caller = (self.caller)(&context);
        let result = self.inner.complete(request, context).await;
        self.clean_answer(&caller, "completion/complete", result)
    }

    #[allow(deprecated)] // delegated while rmcp still has it
    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.set_level(request, context)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let caller = (self.caller)(&context);
        match self.inner.get_prompt(request, context).await {
            Ok(GetPromptResponse::Complete(r)) => self
                .clean_answer(&caller, "prompts/get", Ok(r))
                .map(GetPromptResponse::Complete),
            Ok(GetPromptResponse::InputRequired(r)) => self
                .clean_answer(&caller, "prompts/get", Ok(r))
                .map(GetPromptResponse::InputRequired),
            Ok(other) => Ok(other),
            Err(e) => Err(self.clean_error(&caller, "prompts/get", e)),
        }
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let caller = (self.caller)(&context);
        let result = self.inner.list_prompts(request, context).await;
        self.clean_answer(&caller, "prompts/list", result)
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let caller = (self.caller)(&context);
        let result = self.inner.list_resources(request, context).await;
        self.clean_answer(&caller, "resources/list", result)
    }

    async fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        let caller = (self.caller)(&context);
        let result = self.inner.list_resource_templates(request, context).await;
        self.clean_answer(&caller, "resources/templates/list", result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let caller = (self.caller)(&context);
        match self.inner.read_resource(request, context).await {
            Ok(ReadResourceResponse::Complete(r)) => self
                .clean_answer(&caller, "resources/read", Ok(r))
                .map(ReadResourceResponse::Complete),
            Ok(ReadResourceResponse::InputRequired(r)) => self
                .clean_answer(&caller, "resources/read", Ok(r))
                .map(ReadResourceResponse::InputRequired),
            Ok(other) => Ok(other),
            Err(e) => Err(self.clean_error(&caller, "resources/read", e)),
        }
    }

    /// The handler's, and tool list changes wherever they are asked for: the airlock sends
    /// them itself (and declares `tools.listChanged`).
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let accepted = self.inner.accepted_subscription_filter(requested);
        if requested.tools_list_changed != Some(true) {
            return accepted;
        }
        let mut accepted = accepted.unwrap_or_default();
        accepted.tools_list_changed = Some(true);
        let mut listens = lock(&self.listens);
        if listens.opening.len() < OPENING {
            let told = listens.told;
            listens.opening.push_back(told);
        }
        Some(accepted)
    }

    /// The handler's, with the stream kept among those the airlock's own tool list changes go
    /// to while it lasts.
    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        let mut listens = lock(&self.listens);
        // Paired with `accepted_subscription_filter`, which counted the stream as being opened.
        let since = if context.requested().tools_list_changed == Some(true) {
            listens.opening.pop_front()
        } else {
            None
        };
        let listening = (context.accepted().tools_list_changed == Some(true)).then(|| {
            let key = listens.next;
            listens.next += 1;
            listens.streams.insert(key, context.sink().clone());
            // A change told while the stream was acknowledged (not counted: any change so far).
            if listens.told > since.unwrap_or(0) {
                tell_stream(context.sink().clone());
            }
            Listening {
                listens: self.listens.clone(),
                key,
            }
        });
        drop(listens);
        async move {
            let _listening = listening;
            self.inner.listen(context).await
        }
    }

    #[allow(deprecated)] // delegated while rmcp still has it
    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.subscribe(request, context)
    }

    #[allow(deprecated)] // delegated while rmcp still has it
    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.unsubscribe(request, context)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.on_custom_request(request, context)
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_custom_notification(notification, context)
    }

    /// The inner server's, declaring `tools.listChanged` where it offers tools: the airlock
    /// sends the notice itself (see [`crate::lifecycle::declare_list_changed`]).
    fn get_info(&self) -> ServerConfig {
        let mut info = self.inner.get_info();
        declare_in_capabilities(&mut info.capabilities);
        info
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_task(request, context)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.update_task(request, context)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.cancel_task(request, context)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_skills(request, context)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_skill(request, context)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.read_resource_directory(request, context)
    }
}

/// Declare `tools.listChanged` where the server offers tools: the airlock sends the notice
/// itself (see [`crate::lifecycle::declare_list_changed`]).
fn declare_in_capabilities(capabilities: &mut ServerCapabilities) {
    if let Some(tools) = capabilities.tools.as_mut() {
        tools.list_changed = Some(true);
    }
}
