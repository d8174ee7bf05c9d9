// Shared by the MCP client tests and the bench: reading the test's configuration, connecting
// the official TypeScript SDK client to berth over Streamable HTTP or over `berth mcp` (stdio),
// calling the REST tool endpoint, and comparing answers.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { isDeepStrictEqual } from 'node:util';

export const MCP_PATH = '/api/experimental/mcp';

// The configuration is one JSON object, the script's only argument.
export function readConfig() {
    if (process.argv.length !== 3) {
        process.stderr.write(`usage: node ${process.argv[1]} '<config JSON>'\n`);
        process.exit(2);
    }
    return JSON.parse(process.argv[2]);
}

export class CheckError extends Error {}

export function check(cond, what, detail) {
    if (!cond) {
        const extra = detail === undefined ? '' : `: ${JSON.stringify(detail)}`;
        throw new CheckError(`${what}${extra}`);
    }
}

export function log(...parts) {
    process.stderr.write(`${parts.join(' ')}\n`);
}

// Runs main(cfg), prints its report (an object) as the last line of stdout and exits 0; on a
// failed check or any error, prints {"ok": false, "error"} and exits 1.
export async function run(main) {
    let cfg;
    try {
        cfg = readConfig();
        const report = await main(cfg);
        process.stdout.write(`${JSON.stringify({ ok: true, ...report })}\n`);
        process.exitCode = 0;
    } catch (err) {
        const msg = err instanceof CheckError ? err.message : (err && err.stack) || String(err);
        process.stdout.write(`${JSON.stringify({ ok: false, error: msg })}\n`);
        log(`FAILED: ${msg}`);
        process.exitCode = 1;
    }
    // Nothing must keep the process alive once the report is out (a stream left open by a
    // failed test, say).
    setTimeout(() => process.exit(process.exitCode), 100).unref();
}

// The environment `berth mcp` runs in: the SDK's default (PATH, HOME...), the server and token,
// and the sanitizers' options when the tests run under them.
export function berthEnv(cfg) {
    const env = { ...getDefaultEnvironment(), BERTH_URL: cfg.url, BERTH_SESSION_TOKEN: cfg.token };
    if (cfg.home) {
        env.HOME = cfg.home;
        env.XDG_CONFIG_HOME = `${cfg.home}/.config`;
    }
    for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
        if (process.env[k]) env[k] = process.env[k];
    }
    return env;
}

// A connected SDK client: over HTTP (with the token, and Berth-Chat-Id when chat is given) or
// over `berth mcp` [--chat chat] on stdio. Returns {client, transport, stderr()} where stderr()
// is what `berth mcp` wrote there so far.
export async function connect(cfg, transportKind, { chat, name = 'berth-test' } = {}) {
    const client = new Client({ name, version: '1.0.0' }, { capabilities: {} });
    let transport;
    let errText = '';
    if (transportKind === 'http') {
        const headers = { Authorization: `Bearer ${cfg.token}` };
        if (chat) headers['Berth-Chat-Id'] = chat;
        transport = new StreamableHTTPClientTransport(new URL(cfg.url + MCP_PATH), {
            requestInit: { headers },
        });
    } else if (transportKind === 'stdio') {
        const args = ['mcp'];
        if (chat) args.push('--chat', chat);
        transport = new StdioClientTransport({
            command: cfg.berth,
            args,
            env: berthEnv(cfg),
            stderr: 'pipe',
        });
        transport.stderr.on('data', (d) => {
            errText += d.toString();
        });
    } else {
        throw new Error(`unknown transport ${transportKind}`);
    }
    await client.connect(transport);
    return { client, transport, stderr: () => errText };
}

// Ends a connection: an HTTP session is terminated (DELETE); stdio closes `berth mcp`'s stdin,
// which makes it end its session and exit. Sanitizer reports on its stderr fail the test.
export async function disconnect(conn, transportKind) {
    if (transportKind === 'http') await conn.transport.terminateSession();
    await conn.client.close();
    const err = conn.stderr();
    check(!/Sanitizer|runtime error:/.test(err), 'berth mcp reported a sanitizer error', err);
}

// POST /api/experimental/chats/{chat}/tools/{name}: {is_error, result}.
export async function restTool(cfg, chat, name, args) {
    const res = await fetch(`${cfg.url}/api/experimental/chats/${chat}/tools/${name}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${cfg.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(args),
    });
    const body = await res.json();
    check(res.status === 200, `REST ${name}: status ${res.status}`, body);
    return body;
}

// POST /api/experimental/chats: a new chat's id.
export async function restNewChat(cfg, title) {
    const res = await fetch(`${cfg.url}/api/experimental/chats`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${cfg.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ title }),
    });
    const body = await res.json();
    check(res.status === 201, `create chat: status ${res.status}`, body);
    return body.id;
}

// An MCP tools/call result in the tool endpoint's shape ({is_error, result}), after checking
// what MCP adds: one text block, the JSON of structuredContent when the result is an object.
export function asToolAnswer(name, r) {
    check(Array.isArray(r.content) && r.content.length === 1, `${name}: one content block`, r);
    check(r.content[0].type === 'text', `${name}: a text block`, r);
    if (r.isError) {
        check(r.structuredContent === undefined, `${name}: no structuredContent on an error`, r);
        return { is_error: true, result: r.content[0].text };
    }
    check(r.isError === false, `${name}: isError false`, r);
    check(
        isDeepStrictEqual(JSON.parse(r.content[0].text), r.structuredContent),
        `${name}: the text block is structuredContent's JSON`,
        r,
    );
    return { is_error: false, result: r.structuredContent };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;

// A value with what differs between two equal runs replaced: ids, the workspaces' names (names:
// [[name, placeholder]...]), and durations.
export function normalize(v, names = [], key = '') {
    if (Array.isArray(v)) return v.map((x) => normalize(x, names));
    if (v && typeof v === 'object') {
        const out = {};
        for (const k of Object.keys(v).sort()) out[k] = normalize(v[k], names, k);
        return out;
    }
    if (typeof v === 'number' && /_ms$/.test(key)) return '<ms>';
    if (typeof v !== 'string') return v;
    let s = v.replace(UUID, '<uuid>');
    for (const [name, placeholder] of names) s = s.split(name).join(placeholder);
    return s;
}

// Checks that an MCP answer and a REST answer are the same once normalized.
export function checkSame(what, mcp, rest, names) {
    const a = normalize(mcp, names);
    const b = normalize(rest, names);
    check(isDeepStrictEqual(a, b), `${what}: MCP and the tool endpoint differ`, { mcp: a, rest: b });
}

export function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}
