// A TypeScript-SDK MCP client for the tests (Claude Desktop and most clients
// are built on this SDK). It starts argv[2..] as a stdio server the way such
// clients do (a minimal environment plus MCP_TEST_ENV, a JSON object of
// variables), then reports each step as a JSON line on stdout; after
// "ready" it waits for a line on stdin before the calls that must see a
// rotated value.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";

const [command, ...args] = process.argv.slice(2);
const env = { ...getDefaultEnvironment(), ...JSON.parse(process.env.MCP_TEST_ENV || "{}") };
const report = (step, value) => console.log(JSON.stringify({ step, value }));
const text = (res) => res.content.filter((c) => c.type === "text").map((c) => c.text).join("");

const transport = new StdioClientTransport({ command, args, env, cwd: process.env.MCP_TEST_CWD, stderr: "inherit" });
const client = new Client({ name: "ts-test-client", version: "1.0.0" });
await client.connect(transport);
report("tools", (await client.listTools()).tools.map((t) => t.name));
report("echo", text(await client.callTool({ name: "echo", arguments: { message: "hello" } })));
report("env", text(await client.callTool({ name: "get-env", arguments: {} })));
report("ready", null);
const lines = createInterface({ input: process.stdin });
for await (const _ of lines) {
  report("env", text(await client.callTool({ name: "get-env", arguments: {} })));
  report("ready", null);
}
await client.close();
report("done", null);
