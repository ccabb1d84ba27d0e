"""An MCP server nobody at agent-airlock wrote the protocol of: the official Python SDK's
low-level server (`mcp` from PyPI) over stdio, which speaks protocol 2026-07-28 (with
`subscriptions/listen`) and the older versions.

`python_server.py PAGES`: PAGES is a JSON file holding a list of tool lists; the server's n-th
`tools/list` answer is the n-th (the last one from then on), so a test can make the server
change its tools between two listings (a description turned poisonous, a tool added). Every
call answers `ran`.
"""

import json
import sys

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler


def main() -> None:
    pages = json.load(open(sys.argv[1]))
    listed = 0

    async def list_tools(ctx, params):
        nonlocal listed
        page = pages[min(listed, len(pages) - 1)]
        listed += 1
        return types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in page])

    async def call_tool(ctx, params):
        return types.CallToolResult(content=[types.TextContent(type="text", text="ran")])

    server = Server(
        "pages",
        version="1",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_subscriptions_listen=ListenHandler(InMemorySubscriptionBus()),
    )

    async def serve() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(serve)


main()
