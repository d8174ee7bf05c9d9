// The official TypeScript SDK client against berth over one transport (cfg.transport: "stdio"
// for `berth mcp`, "http" for the Streamable HTTP endpoint):
//
// 1. initialize and tools/list;
// 2. list_templates, read_template, create_workspace on the `local` template, execute, stop,
//    start (with progress) and start again, each answered as the REST tool endpoint answers the
//    same call on a chat in the same state;
// 3. a stopped workspace whose template requires its active version, which now has a new
//    required parameter: start_workspace answers the retry text, then succeeds with parameters
//    (on a chat resumed with --chat / Berth-Chat-Id), again as the tool endpoint answers;
// 4. a call cancelled through an AbortSignal while the server waits for an agent that never
//    comes: the call ends at once and the server lets the chat's next call through.
//
// Configuration (JSON): {url, token, berth, home, transport, tag, local_template,
// silent_template, pinned: {mcp_chat, rest_chat}}.
// Report: {ok, transport, tools, compared, progress, cancel: {aborted_ms, next_call_ms}}.

import {
    check,
    checkSame,
    connect,
    disconnect,
    asToolAnswer,
    log,
    restNewChat,
    restTool,
    run,
    sleep,
} from './lib.mjs';
import { isDeepStrictEqual } from 'node:util';

const TOOLS = [
    'list_templates',
    'read_template',
    'create_workspace',
    'start_workspace',
    'stop_workspace',
    'execute',
    'process_output',
    'process_list',
    'process_signal',
    'read_file',
    'write_file',
    'edit_files',
];

const MANUAL_UPDATE_TEXT =
    "The workspace needs the template's active version before it can start. Use read_template " +
    "with this workspace's template_id to inspect the active version's required parameters, " +
    'then retry start_workspace with a parameters object that supplies any missing or changed ' +
    'values. If the correct value for a parameter is not obvious from its description or ' +
    'defaults, ask the user rather than guessing.' +
    '\n\nParameter "team" is required but not provided';

// Long waits must not trip the SDK's default 60 s request time-out on a slow (sanitized) build.
const CALL_OPTS = { timeout: 300000, resetTimeoutOnProgress: true };

async function mcpTool(conn, name, args, opts = {}) {
    const r = await conn.client.callTool({ name, arguments: args }, undefined, {
        ...CALL_OPTS,
        ...opts,
    });
    return asToolAnswer(name, r);
}

// Collects the progress notifications of one call and checks their shape.
function progressRecorder() {
    const seen = [];
    return {
        seen,
        onprogress: (p) => seen.push(p),
        check(what) {
            check(seen.length >= 1, `${what}: progress notifications arrived`, seen);
            let last = 0;
            for (const p of seen) {
                check(typeof p.progress === 'number' && p.progress > last, `${what}: progress rises`, seen);
                last = p.progress;
                check(typeof p.message === 'string' && p.message.length > 0, `${what}: progress has a message`, p);
            }
            return seen.length;
        },
    };
}

async function findChat(cfg, title) {
    const res = await fetch(`${cfg.url}/api/experimental/chats`, {
        headers: { Authorization: `Bearer ${cfg.token}` },
    });
    const chats = await res.json();
    check(res.status === 200, `list chats: ${res.status}`, chats);
    const found = chats.filter((c) => c.title === title);
    check(found.length === 1, `one chat titled ${title}`, chats);
    return found[0];
}

async function listAndCompare(cfg, conn) {
    const info = conn.client.getServerVersion();
    check(info && info.name === 'berth', 'serverInfo.name is berth', info);
    if (cfg.transport === 'http') {
        // The SDK's latest revision, which berth speaks: the transport sends it on every request.
        check(conn.transport.protocolVersion === '2025-11-25', 'negotiated 2025-11-25', conn.transport.protocolVersion);
    }
    const caps = conn.client.getServerCapabilities();
    check(caps && caps.tools, 'the server has the tools capability', caps);

    const { tools, nextCursor } = await conn.client.listTools();
    check(nextCursor === undefined, 'tools/list has one page', nextCursor);
    check(
        isDeepStrictEqual(
            tools.map((t) => t.name),
            TOOLS,
        ),
        'tools/list: the chat tools in order',
        tools.map((t) => t.name),
    );
    for (const t of tools) {
        check(typeof t.description === 'string' && t.description.length > 20, `${t.name}: a description`, t);
        check(t.inputSchema && t.inputSchema.type === 'object', `${t.name}: an object input schema`, t);
        check(t.outputSchema === undefined, `${t.name}: no outputSchema`, t);
    }
    return tools.length;
}

async function mainFlow(cfg, compared) {
    const t = cfg.transport;
    const clientName = `sdk-${t}-${cfg.tag}`;
    const conn = await connect(cfg, t, { name: clientName });
    const toolCount = await listAndCompare(cfg, conn);
    const restChat = await restNewChat(cfg, `REST ${t} ${cfg.tag}`);
    const mName = `m-${t}-${cfg.tag}`;
    const rName = `r-${t}-${cfg.tag}`;
    const names = [
        [mName, '<ws>'],
        [rName, '<ws>'],
    ];

    // Each step: the same call through MCP and through the tool endpoint, on two chats that went
    // through the same calls so far.
    const step = async (label, name, mArgs, rArgs, opts) => {
        const m = await mcpTool(conn, name, mArgs, opts);
        const r = await restTool(cfg, restChat, name, rArgs ?? mArgs);
        checkSame(label, m, r, names);
        compared.push(label);
        return m;
    };

    let a = await step('list_templates', 'list_templates', {});
    check(
        a.result.templates.some((x) => x.id === cfg.local_template && x.name === 'local'),
        'list_templates lists local',
        a,
    );
    a = await step('read_template', 'read_template', { template_id: cfg.local_template });
    check(a.result.template.name === 'local', 'read_template: local', a);

    const createProgress = progressRecorder();
    a = await step(
        'create_workspace',
        'create_workspace',
        { template_id: cfg.local_template, name: mName },
        { template_id: cfg.local_template, name: rName },
        { onprogress: createProgress.onprogress },
    );
    check(a.result.created === true && typeof a.result.build_id === 'string', 'create_workspace created', a);
    const mcpChat = await findChat(cfg, `MCP: ${clientName}`);
    check(typeof mcpChat.workspace_id === 'string', 'the session chat is bound to the workspace', mcpChat);
    check(mcpChat.build_id === a.result.build_id, "the session chat has the create's build", mcpChat);

    a = await step('execute', 'execute', { command: "printf 'hello %s\\n' berth; echo $((6 * 7))" });
    check(a.result.output === 'hello berth\n42\n' && a.result.exit_code === 0, 'execute output', a);

    a = await step('stop_workspace', 'stop_workspace', {});
    check(a.result.stopped === true && typeof a.result.build_id === 'string', 'stop_workspace stopped', a);

    const startProgress = progressRecorder();
    a = await step('start_workspace', 'start_workspace', {}, undefined, {
        onprogress: startProgress.onprogress,
    });
    check(a.result.started === true && typeof a.result.build_id === 'string', 'start_workspace started', a);
    const progress = startProgress.check('start_workspace');
    check(
        startProgress.seen.some((p) => /^Build #\d+/.test(p.message)),
        'start_workspace: a progress message names the build',
        startProgress.seen,
    );

    a = await step('start_workspace (running)', 'start_workspace', {});
    check(a.result.started === true && a.result.no_build === true, 'start_workspace: no build', a);

    a = await step('execute (after the restart)', 'execute', { command: 'echo again' });
    check(a.result.output === 'again\n', 'execute after start', a);

    await disconnect(conn, t);
    return { toolCount, progress, createProgress: createProgress.seen.length };
}

async function pinnedFlow(cfg, compared) {
    const t = cfg.transport;
    const conn = await connect(cfg, t, { chat: cfg.pinned.mcp_chat, name: `sdk-pinned-${t}` });
    const restChat = cfg.pinned.rest_chat;
    const names = [
        [`pm-${t}`, '<ws>'],
        [`pr-${t}`, '<ws>'],
    ];

    let m = await mcpTool(conn, 'start_workspace', {});
    let r = await restTool(cfg, restChat, 'start_workspace', {});
    check(m.is_error === true && m.result === MANUAL_UPDATE_TEXT, 'start_workspace: the retry text', m);
    checkSame('start_workspace (active version needs a parameter)', m, r, names);
    compared.push('start_workspace (active version needs a parameter)');

    const args = { parameters: { team: 'platform' } };
    m = await mcpTool(conn, 'start_workspace', args);
    r = await restTool(cfg, restChat, 'start_workspace', args);
    check(
        m.is_error === false && m.result.started === true && m.result.updated_to_active_version === true,
        'start_workspace with parameters: started on the active version',
        m,
    );
    check(m.result.update_reason === 'template requires active versions', 'update_reason', m);
    checkSame('start_workspace (with the parameter)', m, r, names);
    compared.push('start_workspace (with the parameter)');

    // The session acted on the chat it was given.
    const res = await fetch(`${cfg.url}/api/experimental/chats/${cfg.pinned.mcp_chat}`, {
        headers: { Authorization: `Bearer ${cfg.token}` },
    });
    const chat = await res.json();
    check(chat.build_id === m.result.build_id, "the resumed chat has the start's build", chat);
    await disconnect(conn, t);
}

async function cancelFlow(cfg) {
    const t = cfg.transport;
    const conn = await connect(cfg, t, { name: `sdk-cancel-${t}-${cfg.tag}` });
    const ac = new AbortController();
    const progress = progressRecorder();
    let abortedAt = 0;
    const t0 = Date.now();
    // The build succeeds at once; the agent never connects, so the call waits for it (two
    // minutes, the template's connection time-out) until cancelled.
    const call = conn.client.callTool(
        { name: 'create_workspace', arguments: { template_id: cfg.silent_template, name: `c-${t}-${cfg.tag}` } },
        undefined,
        {
            ...CALL_OPTS,
            signal: ac.signal,
            onprogress: (p) => {
                progress.onprogress(p);
                // The build is done: the call now waits for the agent.
                if (!abortedAt && /^Build #\d+ is succeeded$/.test(p.message || '')) {
                    abortedAt = Date.now();
                    setTimeout(() => ac.abort('test cancels'), 300);
                }
            },
        },
    );
    const fallback = setTimeout(() => ac.abort('no progress of the finished build'), 60000);
    let rejected;
    try {
        const r = await call;
        throw new Error(`the cancelled call answered: ${JSON.stringify(r)}`);
    } catch (err) {
        rejected = err;
    }
    clearTimeout(fallback);
    check(abortedAt > 0, 'progress of the finished build arrived before the cancel', progress.seen);
    check(String(rejected).includes('test cancels'), 'the call ended by the abort', String(rejected));
    const abortedMs = Date.now() - abortedAt - 300;
    log(`cancel: aborted after ${abortedAt - t0} ms, the call ended ${abortedMs} ms later (${rejected})`);

    // The server stopped waiting: the chat's lock is free, so the next call (which takes it)
    // stops the workspace now rather than after the agent's two minutes.
    const t1 = Date.now();
    const a = await mcpTool(conn, 'stop_workspace', {});
    const nextMs = Date.now() - t1;
    check(a.is_error === false && a.result.stopped === true, 'stop_workspace after the cancel', a);
    check(nextMs < 30000, `stop_workspace after the cancel answered in ${nextMs} ms`, a);
    await disconnect(conn, t);
    return { aborted_ms: abortedMs, next_call_ms: nextMs, progress: progress.seen.length };
}

run(async (cfg) => {
    check(['stdio', 'http'].includes(cfg.transport), 'transport is stdio or http', cfg.transport);
    const compared = [];
    const main = await mainFlow(cfg, compared);
    await pinnedFlow(cfg, compared);
    const cancel = await cancelFlow(cfg);
    await sleep(0);
    return {
        transport: cfg.transport,
        tools: main.toolCount,
        compared,
        progress: main.progress,
        cancel,
    };
});
