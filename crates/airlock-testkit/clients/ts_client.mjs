// An MCP client nobody at agent-airlock wrote: the official TypeScript SDK
// (`@modelcontextprotocol/sdk` from npm, resolved from the directory in $AIRLOCK_NPM).
//
// Connects to the airlock (stdio: `-- <command…>`; HTTP: `--url URL`), lists the tools, makes
// the calls given as JSON on stdin (`[[tool, arguments], ...]`) and prints one JSON line per
// call: whether the SDK accepted the answer, whether it is a tool error, its text, and the
// refusal code the airlock put in `_meta`. An SDK exception is printed, not thrown: the Rust
// test decides.
//
// `--approve A,B,...` declares elicitation and answers the airlock's approval requests in turn
// (`accept`, `accept:session`, `decline`, `cancel`, `sleep:N` = no answer for N seconds, then
// accept), printing each as the user would see it (`{"elicited": message, "schema": ...}`).
//
// `--watch-tools` counts the `notifications/tools/list_changed` the SDK hands its handler and
// prints the count last (`{"tools_changed": n}`), waiting up to 2 s for the first.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.AIRLOCK_NPM, "package.json"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");
const { ElicitRequestSchema, ToolListChangedNotificationSchema } = require("@modelcontextprotocol/sdk/types.js");

const argv = process.argv.slice(2);
const dash = argv.indexOf("--");
const options = dash < 0 ? argv : argv.slice(0, dash);
const command = dash < 0 ? [] : argv.slice(dash + 1);
const url = options[options.indexOf("--url") + 1];

let input = "";
for await (const chunk of process.stdin) input += chunk;
const calls = JSON.parse(input);

const transport = options.includes("--url")
  ? new StreamableHTTPClientTransport(new URL(url))
  : new StdioClientTransport({ command: command[0], args: command.slice(1), stderr: "ignore" });
const say = (v) => process.stdout.write(JSON.stringify(v) + "\n");
const approve = options.includes("--approve") ? options[options.indexOf("--approve") + 1].split(",") : null;
const client = new Client(
  { name: "airlock-ts-test", version: "1.0.0" },
  approve ? { capabilities: { elicitation: {} } } : {},
);
if (approve) {
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    say({ elicited: request.params.message, schema: request.params.requestedSchema });
    let answer = approve.shift() ?? "decline";
    if (answer.startsWith("sleep:")) {
      await new Promise((r) => setTimeout(r, Number(answer.split(":")[1]) * 1000));
      answer = "accept";
    }
    if (answer === "accept:session") return { action: "accept", content: { remember: "session" } };
    return { action: answer };
  });
}
// The SDK hands the version it accepted to a transport that takes it (HTTP does); the stdio
// transport is given the same place, so the version is printed over both.
transport.setProtocolVersion ??= (v) => { transport.protocolVersion = v; };
const watch = options.includes("--watch-tools");
let changed = 0;
if (watch) client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed += 1; });
await client.connect(transport);
say({ protocol: transport.protocolVersion ?? client.getServerVersion()?.protocolVersion ?? null });
const tools = await client.listTools();
say({ tools: tools.tools.map((t) => t.name).sort() });
for (const [tool, args] of calls) {
  try {
    const r = await client.callTool({ name: tool, arguments: args });
    const refusal = (r._meta ?? {})["airlock/refusal"] ?? {};
    say({
      tool,
      accepted: true,
      is_error: r.isError === true,
      text: (r.content ?? []).map((c) => c.text ?? "").join("\n"),
      code: refusal.metadata?.code ?? null,
    });
  } catch (e) {
    say({ tool, accepted: false, error: String(e) });
  }
}
if (watch) {
  for (let waited = 0; changed === 0 && waited < 2000; waited += 10) {
    await new Promise((r) => setTimeout(r, 10));
  }
  say({ tools_changed: changed });
}
await client.close();
