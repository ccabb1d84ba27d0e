//! The library way: an [`rmcp`] server handler behind the airlock, in one line.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use airlock_core::Engine;
//! # use airlock_mcp::server::Guard;
//! # async fn run<H: rmcp::ServerHandler>(my_handler: H, engine: Arc<Engine>) -> Result<(), Box<dyn std::error::Error>> {
//! use rmcp::ServiceExt;
//! let server = my_handler.guarded(engine).serve(rmcp::transport::stdio()).await?;
//! # Ok(()) }
//! ```
//!
//! [`Guarded`] implements every method of [`ServerHandler`] by handing it to the wrapped
//! handler — nothing falls back to rmcp's defaults ("method not found") — except two, which it
//! checks on the way:
//!
//! * `call_tool` goes through the engine first. A refusal is answered as a tool result with
//!   `isError: true`, the refusal text and `_meta["airlock/refusal"]`, and the handler never runs;
//!   an allowed call runs with the arguments as decided (undeclared ones stripped when so
//!   configured). A tool the engine has not seen is looked up first (the handler's `get_tool`,
//!   else its `list_tools`): it never checks blind.
//! * `list_tools` answers teach the engine the tools, and lose the ones the caller may never call.
//!
//! The caller is fixed ([`Guarded::caller`]) or read from each request ([`Guarded::caller_from`],
//! e.g. from the HTTP request parts rmcp puts in the request's extensions).

use std::borrow::Cow;
use std::sync::Arc;

use airlock_core::{Arguments, Call, CallerContext, Decision, Engine, ToolDef};
use rmcp::ErrorData as McpError;
use rmcp::ServerHandler;
use rmcp::model::*;
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use serde_json::{Value, json};

use crate::intercept::{learn_and_hide, refusal_tool_result};

type CallerFn = dyn Fn(&RequestContext<RoleServer>) -> CallerContext + Send + Sync;

/// An rmcp server handler behind the airlock. Build it with [`Guard::guarded`].
#[derive(Clone)]
pub struct Guarded<H> {
    inner: H,
    engine: Arc<Engine>,
    caller: Arc<CallerFn>,
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
            engine,
            caller: Arc::new(|_| CallerContext::default()),
        }
    }
}

impl<H: ServerHandler> Guard for H {}

impl<H: ServerHandler> Guarded<H> {
    /// Every call is made by this caller.
    #[must_use]
    pub fn caller(mut self, caller: CallerContext) -> Self {
        self.caller = Arc::new(move |_| caller.clone());
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

    /// Learn the tool `name` (or, failing that, the whole list) from the handler.
    async fn learn(&self, name: &str, context: &RequestContext<RoleServer>) {
        let mut tools: Vec<Value> = Vec::new();
        if let Some(tool) = self.inner.get_tool(name) {
            tools.push(serde_json::to_value(&tool).unwrap_or(Value::Null));
        } else {
            let mut cursor: Option<String> = None;
            for _page in 0..100 {
                let request = cursor
                    .take()
                    .map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
                let Ok(page) = self.inner.list_tools(request, context.clone()).await else {
                    break;
                };
                for t in &page.tools {
                    tools.push(serde_json::to_value(t).unwrap_or(Value::Null));
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        if let Ok(defs) = ToolDef::parse_list(json!({ "tools": tools })) {
            self.engine.merge_tools(defs);
        }
    }
}

impl<H: ServerHandler> Guarded<H> {
    /// Pass a call's result (or error) through the engine's result-cleaning stage.
    fn clean(
        &self,
        tool: &str,
        caller: &CallerContext,
        result: Result<CallToolResponse, McpError>,
    ) -> Result<CallToolResponse, McpError> {
        if !self.engine.cleans_results() {
            return result;
        }
        let encoding = |e: serde_json::Error| {
            McpError::internal_error(format!("airlock: result encoding: {e}"), None)
        };
        match result {
            Ok(CallToolResponse::Complete(r)) => {
                let mut v = serde_json::to_value(&r).map_err(encoding)?;
                if let Err(e) = self.engine.clean_result(tool, caller, &mut v) {
                    eprintln!("airlock: a result of {tool} was withheld: {e}");
                }
                Ok(CallToolResponse::Complete(
                    serde_json::from_value(v).map_err(encoding)?,
                ))
            }
            // Not a result the model reads as text (input requests, tasks): as it is.
            Ok(other) => Ok(other),
            Err(mut e) => {
                let mut v =
                    json!({"error": {"code": e.code.0, "message": e.message, "data": e.data}});
                if let Err(err) = self.engine.clean_result(tool, caller, &mut v) {
                    eprintln!("airlock: an error of {tool} was withheld: {err}");
                }
                e.message = v["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
                    .into();
                e.data = v["error"].get("data").cloned().filter(|d| !d.is_null());
                Err(e)
            }
        }
    }
}

impl<H: ServerHandler> ServerHandler for Guarded<H> {
    async fn call_tool(
        &self,
        mut request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let caller = (self.caller)(&context);
        let name = request.name.to_string();
        if self.engine.catalog().get(&name).is_none() {
            self.learn(&name, &context).await;
        }
        let arguments = request.arguments.take().map_or(Value::Null, Value::Object);
        match self
            .engine
            .check(Call::new(name.clone(), Arguments::Json(arguments)).caller(caller.clone()))
        {
            Decision::Refused(r) => {
                if let Some(internal) = &r.internal {
                    eprintln!("airlock: a check failed and the call was refused: {internal}");
                }
                let result: CallToolResult =
                    serde_json::from_value(refusal_tool_result(&r.refusal)).map_err(|e| {
                        McpError::internal_error(format!("airlock: refusal encoding: {e}"), None)
                    })?;
                Ok(result.into())
            }
            Decision::Allowed(allowed) => {
                request.arguments = Some(allowed.arguments);
                let result = self.inner.call_tool(request, context).await;
                // Tell the engine how the call went (for `required_before` rules).
                let ok = matches!(&result, Ok(CallToolResponse::Complete(r)) if r.is_error != Some(true));
                self.engine.record_outcome(&caller, &name, ok);
                self.clean(&name, &caller, result)
            }
        }
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let caller = (self.caller)(&context);
        let result = self.inner.list_tools(request, context).await?;
        let Ok(mut value) = serde_json::to_value(&result) else {
            return Ok(result);
        };
        if learn_and_hide(&self.engine, &caller, &mut value) {
            return serde_json::from_value(value).map_err(|e| {
                McpError::internal_error(format!("airlock: tool list encoding: {e}"), None)
            });
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
        self.inner.initialize(request, context)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.discover(context)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.complete(request, context)
    }

    #[allow(deprecated)] // delegated while rmcp still has it
    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.set_level(request, context)
    }

    fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetPromptResponse, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_prompt(request, context)
    }

    fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListPromptsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_prompts(request, context)
    }

    fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourcesResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_resources(request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.list_resource_templates(request, context)
    }

    fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceResponse, McpError>> + MaybeSendFuture + '_ {
        self.inner.read_resource(request, context)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
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

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
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
