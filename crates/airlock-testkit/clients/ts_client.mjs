// An MCP client nobody at agent-airlock wrote: the official TypeScript SDK
// (`@modelcontextprotocol/sdk` from npm, resolved from the directory in $AIRLOCK_NPM).
//
// Connects to the airlock (stdio: `-- <command…>`; HTTP: `--url URL`), lists the tools, makes
// the calls given as JSON on stdin (`[[tool, arguments], ...]`) and prints one JSON line per
// call: whether the SDK accepted the answer, whether it is a tool error, its text, and the
// refusal code the airlock put in `_meta`. An SDK exception is printed, not thrown: the Rust
// test decides.
import { createRequire } from "node:module";
import path from "node:path";

const require = createRequire(path.join(process.env.AIRLOCK_NPM, "package.json"));
const { Client } = require("@modelcontextprotocol/sdk/client/index.js");
const { StdioClientTransport } = require("@modelcontextprotocol/sdk/client/stdio.js");
const { StreamableHTTPClientTransport } = require("@modelcontextprotocol/sdk/client/streamableHttp.js");

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
const client = new Client({ name: "airlock-ts-test", version: "1.0.0" });
await client.connect(transport);
const say = (v) => process.stdout.write(JSON.stringify(v) + "\n");
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
await client.close();
