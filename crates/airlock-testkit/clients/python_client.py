"""An MCP client nobody at agent-airlock wrote: the official Python SDK (`mcp` from PyPI).

Connects to the airlock (stdio: `-- <command…>`; HTTP: `--url ...`) in the SDK's default mode
(`auto`: `server/discover`, protocol 2026-07-28) or its `legacy` mode (`initialize`), lists the
tools, makes the calls given as JSON on stdin (`[[tool, arguments], ...]`) and prints one JSON
line per call: whether the SDK accepted the answer, whether it is a tool error, its text, and the
refusal code the airlock put in `_meta`. An SDK exception is printed, not raised: the Rust test
decides.

`--watch-tools` counts the notices that the tool list changed, as the SDK offers them: on
2026-07-28 the events of a `subscriptions/listen` stream opened for tool changes before the
calls; before it, the notifications its message handler gets. The count is printed last
(`{"tools_changed": n}`); a notice sent before a call's answer has arrived by the time the call
returns, as both come in order on one connection (the script waits up to 2 s for the first).

`--approve A,B,...` installs an elicitation callback: the client's user, answering the airlock's
approval requests in turn with `accept`, `accept:session`, `decline`, `cancel` or `sleep:N` (no
answer for N seconds, then accept). Each request is printed (`{"elicited": message, "schema":
...}`) as the user would see it.
"""

import argparse
import asyncio
import contextlib
import json
import sys

import anyio
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters


async def main() -> None:
    # Options, then `--` and the stdio command (which may hold `--` of its own).
    argv = sys.argv[1:]
    command = []
    if "--" in argv:
        i = argv.index("--")
        argv, command = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser()
    p.add_argument("--mode", default="auto")
    p.add_argument("--url")
    # W3C trace context the calls run under (`00-TRACE-SPAN-01`): the SDK propagates it in
    # `params._meta`, as it does for an application's own spans.
    p.add_argument("--traceparent")
    p.add_argument("--approve")
    p.add_argument("--watch-tools", action="store_true")
    a = p.parse_args(argv)
    calls = json.load(sys.stdin)
    if a.url:
        target = a.url
    else:
        target = StdioServerParameters(command=command[0], args=command[1:])
    traced = contextlib.nullcontext()
    if a.traceparent:
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

        _, trace_id, span_id, _ = a.traceparent.split("-")
        parent = NonRecordingSpan(
            SpanContext(
                trace_id=int(trace_id, 16),
                span_id=int(span_id, 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        )
        traced = trace.use_span(parent)
    with traced:
        await run(target, a.mode, calls, a.approve, a.watch_tools)


def approver(answers):
    """The client's user: answers elicitation requests from `answers`, in turn."""
    from mcp_types import ElicitResult

    queue = list(answers.split(","))

    async def callback(context, params):
        print(
            json.dumps(
                {
                    "elicited": params.message,
                    "schema": params.requested_schema
                    if isinstance(params.requested_schema, dict)
                    else params.requested_schema.model_dump(by_alias=True, exclude_none=True),
                }
            ),
            flush=True,
        )
        answer = queue.pop(0) if queue else "decline"
        if answer.startswith("sleep:"):
            await asyncio.sleep(float(answer.split(":")[1]))
            answer = "accept"
        if answer == "accept:session":
            return ElicitResult(action="accept", content={"remember": "session"})
        return ElicitResult(action=answer)

    return callback


async def run(target, mode, calls, approve=None, watch=False) -> None:
    extra = {"elicitation_callback": approver(approve)} if approve else {}
    changed = []
    if watch and mode == "legacy":

        async def on_message(message):
            if getattr(getattr(message, "root", message), "method", None) == "notifications/tools/list_changed":
                changed.append(message)

        extra["message_handler"] = on_message
    async with Client(target, mode=mode, **extra) as c, contextlib.AsyncExitStack() as stack:
        print(json.dumps({"protocol": c.session.protocol_version}), flush=True)
        tools = await c.list_tools()
        print(json.dumps({"tools": sorted(t.name for t in tools.tools)}), flush=True)
        if watch and mode != "legacy":
            sub = await stack.enter_async_context(c.listen(tools_list_changed=True))

            async def consume():
                async for event in sub:
                    changed.append(event)

            task = asyncio.create_task(consume())
            stack.callback(task.cancel)
        for tool, args in calls:
            out = {"tool": tool}
            try:
                r = await c.call_tool(tool, args)
                meta = r.meta or {}
                refusal = meta.get("airlock/refusal") or {}
                out.update(
                    accepted=True,
                    is_error=bool(r.is_error),
                    text="\n".join(getattr(b, "text", "") for b in r.content),
                    code=(refusal.get("metadata") or {}).get("code"),
                )
            except Exception as e:  # the SDK refused the answer: the test fails on it
                out.update(accepted=False, error=f"{type(e).__name__}: {e}")
            print(json.dumps(out), flush=True)
        if watch:
            # A notice already received may still wait for the consumer task: give it up to 2 s.
            with anyio.move_on_after(2):
                while not changed:
                    await anyio.sleep(0.01)
            print(json.dumps({"tools_changed": len(changed)}), flush=True)


asyncio.run(main())
