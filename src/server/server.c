/* server.c - `berth server`: wires the modules together and runs until a signal. */
#include "server/server.h"

#include "agentconn/agentconn.h"
#include "api/api.h"
#include "base/flags.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/secure.h"
#include "base/str.h"
#include "build/build.h"
#include "chat/chat.h"
#include "chat/provider.h"
#include "http/http.h"
#include "identity/identity.h"
#include "mcp/mcp.h"
#include "provision/provision.h"
#include "pubsub/pubsub.h"
#include "server/internal.h"
#include "store/store.h"
#include "template/template.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *usage =
    "usage: berth server [flags]\n"
    "\n"
    "Runs the berth control plane: the HTTP API, the provisioner and the store.\n"
    "\n"
    "flags:\n";

int server_config_parse(struct server_config *cfg, int argc, char **argv, struct err *e)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->provisioners = 3;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->http_loops = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
    cfg->http_workers = 16;
    cfg->chat_workers = 4;
    cfg->chat_model_attempts = 6;
    bool help = false;
    const struct flag flags[] = {
        {"listen", 0, FLAG_STRING, &cfg->listen, "BERTH_LISTEN", "HOST:PORT",
         "address to listen on (default 127.0.0.1:7080; port 0 picks one)"},
        {"access-url", 0, FLAG_STRING, &cfg->access_url, "BERTH_ACCESS_URL", "URL",
         "how users and agents reach this server (default http://<listen address>)"},
        {"agent-url", 0, FLAG_STRING, &cfg->agent_url, "BERTH_AGENT_URL", "URL",
         "how provision programs and workspace agents reach this server (default: the access "
         "URL when it is http://, else http://<listen address>)"},
        {"data-dir", 0, FLAG_STRING, &cfg->data_dir, "BERTH_DATA_DIR", "DIR",
         "where berth keeps its database and workspaces (default $XDG_DATA_HOME/berth)"},
        {"postgres-url", 0, FLAG_STRING, &cfg->postgres_url, "BERTH_POSTGRES_URL", "URL",
         "PostgreSQL database (not supported yet)"},
        {"dev", 0, FLAG_BOOL, &cfg->dev, "BERTH_DEV", NULL,
         "on an empty data dir, create an owner and print its credentials and a token"},
        {"provisioners", 0, FLAG_INT, &cfg->provisioners, "BERTH_PROVISIONERS", "N",
         "provisioner runner threads (default 3)"},
        {"http-loops", 0, FLAG_INT, &cfg->http_loops, "BERTH_HTTP_LOOPS", "N",
         "HTTP event-loop threads (default: one per CPU, at most 8)"},
        {"http-workers", 0, FLAG_INT, &cfg->http_workers, "BERTH_HTTP_WORKERS", "N",
         "threads kept for handlers that may block (default 16; grows on demand)"},
        {"log-level", 0, FLAG_STRING, &cfg->log_level, "BERTH_LOG_LEVEL", "LEVEL",
         "debug, info, warn or error (default info)"},
        {"log-format", 0, FLAG_STRING, &cfg->log_format, "BERTH_LOG_FORMAT", "FORMAT",
         "text or json (default text)"},
        {"llm-provider", 0, FLAG_STRING, &cfg->llm_provider, "BERTH_LLM_PROVIDER", "NAME",
         "the chat loop's model API: openai (Chat Completions; also vLLM, Ollama, llama.cpp, "
         "OpenRouter) or anthropic (default openai once a model is set)"},
        {"llm-base-url", 0, FLAG_STRING, &cfg->llm_base_url, "BERTH_LLM_BASE_URL", "URL",
         "the provider's API base, ending in /v1 (default: the provider's public API)"},
        {"llm-model", 0, FLAG_STRING, &cfg->llm_model, "BERTH_LLM_MODEL", "NAME",
         "the model chats use (required for chats to get answers)"},
        {"llm-api-key-file", 0, FLAG_STRING, &cfg->llm_api_key_file, "BERTH_LLM_API_KEY_FILE",
         "FILE",
         "a file holding the provider's API key (else $BERTH_LLM_API_KEY; never a flag, "
         "so it stays out of process listings)"},
        {"chat-workers", 0, FLAG_INT, &cfg->chat_workers, "BERTH_CHAT_WORKERS", "N",
         "threads running chat turns (default 4)"},
        {"chat-model-attempts", 0, FLAG_INT, &cfg->chat_model_attempts, "BERTH_CHAT_MODEL_ATTEMPTS",
         "N", "tries of one model call when the provider fails transiently (default 6)"},
        {"help", 'h', FLAG_BOOL, &help, NULL, NULL, "show this help"},
    };
    size_t nflags = sizeof flags / sizeof flags[0];
    char **pos;
    int npos, ndash;
    if (flags_parse(flags, nflags, argc, argv, 2, &pos, &npos, &ndash, e) < 0)
        return -1;
    free(pos);
    if (help) {
        fputs(usage, stdout);
        flags_usage(stdout, flags, nflags);
        return 1;
    }
    if (npos > 0)
        return err_set(e, ERR_BAD_REQUEST, "berth server takes no arguments");
    if (!cfg->listen)
        cfg->listen = xstrdup("127.0.0.1:7080");
    if (cfg->provisioners < 1 || cfg->provisioners > 64)
        return err_set(e, ERR_BAD_REQUEST, "--provisioners must be between 1 and 64");
    if (cfg->http_loops < 1 || cfg->http_loops > 64)
        return err_set(e, ERR_BAD_REQUEST, "--http-loops must be between 1 and 64");
    if (cfg->http_workers < 1 || cfg->http_workers > 1024)
        return err_set(e, ERR_BAD_REQUEST, "--http-workers must be between 1 and 1024");
    if (cfg->chat_model_attempts < 1 || cfg->chat_model_attempts > 100)
        return err_set(e, ERR_BAD_REQUEST, "--chat-model-attempts must be between 1 and 100");
    if (cfg->chat_workers < 0 || cfg->chat_workers > 256)
        return err_set(e, ERR_BAD_REQUEST, "--chat-workers must be between 0 and 256");
    if (server_llm_key(cfg, e) < 0)
        return -1;
    struct llm_provider *llm;
    if (server_llm_provider(cfg, &llm, e) < 0) /* a bad LLM setting is a bad flag */
        return -1;
    llm_provider_free(llm);
    if (!cfg->data_dir) {
        const char *xdg = getenv("XDG_DATA_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg)
            cfg->data_dir = str_printf("%s/berth", xdg);
        else if (home && *home)
            cfg->data_dir = str_printf("%s/.local/share/berth", home);
        else
            return err_set(e, ERR_BAD_REQUEST, "no data dir: set --data-dir or $HOME");
    }
    enum log_level lvl = LOG_INFO;
    if (cfg->log_level && log_level_parse(cfg->log_level, &lvl) < 0)
        return err_set(e, ERR_BAD_REQUEST, "--log-level must be debug, info, warn or error");
    if (cfg->log_format && strcmp(cfg->log_format, "text") != 0 &&
        strcmp(cfg->log_format, "json") != 0)
        return err_set(e, ERR_BAD_REQUEST, "--log-format must be text or json");
    log_configure(lvl, cfg->log_format && strcmp(cfg->log_format, "json") == 0);
    return 0;
}

void server_config_free(struct server_config *cfg)
{
    free(cfg->listen);
    free(cfg->access_url);
    free(cfg->agent_url);
    free(cfg->data_dir);
    free(cfg->postgres_url);
    free(cfg->log_level);
    free(cfg->log_format);
    free(cfg->llm_provider);
    free(cfg->llm_base_url);
    free(cfg->llm_model);
    free(cfg->llm_api_key_file);
    if (cfg->llm_api_key) {
        sodium_memzero(cfg->llm_api_key, strlen(cfg->llm_api_key));
        free(cfg->llm_api_key);
    }
    memset(cfg, 0, sizeof *cfg);
}

int server_llm_key(struct server_config *cfg, struct err *e)
{
    /* Out of the environment at once: nothing started later inherits it. */
    char *env = getenv("BERTH_LLM_API_KEY");
    char *key = env && *env ? xstrdup(env) : NULL;
    if (env) {
        sodium_memzero(env, strlen(env)); /* the copy environ points at */
        unsetenv("BERTH_LLM_API_KEY");
    }
    if (cfg->llm_api_key_file && *cfg->llm_api_key_file) {
        if (key) {
            sodium_memzero(key, strlen(key));
            free(key);
        }
        FILE *fp = fopen(cfg->llm_api_key_file, "r");
        if (!fp)
            return err_set(e, ERR_BAD_REQUEST, "--llm-api-key-file: cannot open %s: %s",
                           cfg->llm_api_key_file, strerror(errno));
        char buf[4097];
        size_t n = fread(buf, 1, sizeof buf - 1, fp);
        fclose(fp);
        if (n == sizeof buf - 1) {
            sodium_memzero(buf, sizeof buf);
            return err_set(e, ERR_BAD_REQUEST, "--llm-api-key-file: %s is over 4096 bytes",
                           cfg->llm_api_key_file);
        }
        buf[n] = '\0';
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        key = n ? xstrdup(buf) : NULL;
        sodium_memzero(buf, sizeof buf);
    }
    cfg->llm_api_key = key;
    return 0;
}

int server_llm_provider(const struct server_config *cfg, struct llm_provider **out, struct err *e)
{
    *out = NULL;
    bool any = (cfg->llm_provider && *cfg->llm_provider) || (cfg->llm_model && *cfg->llm_model) ||
               (cfg->llm_base_url && *cfg->llm_base_url);
    if (!any)
        return 0;
    struct llm_config lc = {
        .provider = cfg->llm_provider,
        .base_url = cfg->llm_base_url,
        .model = cfg->llm_model,
        .api_key = cfg->llm_api_key,
    };
    struct err le = ERR_INIT;
    *out = llm_provider_new(&lc, &le);
    if (!*out) {
        err_set(e, ERR_BAD_REQUEST, "%s", err_msg(&le));
        err_clear(&le);
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Every agent holds a connection open: allow as many descriptors as the hard limit does. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            log_warn("server", "could not raise the open file limit: %s", strerror(errno));
    }
}

static int wait_for_signal(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

int server_run(struct server_config *cfg)
{
    struct err e = ERR_INIT;
    int status = 1;
    struct server_dirs dirs;
    memset(&dirs, 0, sizeof dirs);
    struct store *st = NULL;
    struct pubsub *ps = NULL;
    struct identity *id = NULL;
    struct provisioner *prov = NULL;
    struct agentconn *ac = NULL;
    struct chat_service *chats = NULL;
    struct mcp_server *mcp = NULL;
    struct llm_provider *llm = NULL;
    struct http_server *http = NULL;
    char *access_url = NULL, *agent_url = NULL;
    struct build_runner runner;
    memset(&runner, 0, sizeof runner);

    if (cfg->postgres_url) {
        fprintf(stderr, "berth: --postgres-url: PostgreSQL is not supported yet; omit it to use "
                        "the embedded SQLite store\n");
        return 2;
    }
    /* Signals are taken synchronously by the main thread; every other thread blocks them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    raise_fd_limit();
    umask(077); /* the database, its journal and build scratch copies are private */
    if (server_dirs_open(cfg->data_dir, &dirs, &e) < 0)
        goto out;
    char *db = str_printf("sqlite:%s/berth.db", dirs.data_dir);
    st = store_open(db, &e);
    free(db);
    if (!st)
        goto out;
    ps = pubsub_new();
    id = identity_new(st, NULL);
    struct agentconn_config acc = {.replica_id = dirs.replica_id};
    ac = agentconn_new(st, ps, &acc);
    if (server_llm_provider(cfg, &llm, &e) < 0)
        goto out;
    if (llm)
        log_info("server", "chat model: %s (%s)", cfg->llm_model, llm->name);
    else
        log_info("server", "no LLM provider configured (--llm-model): chats answer with an error");
    struct chat_service_config ccfg = {.st = st, .ps = ps, .ac = ac};
    ccfg.loop = (struct chat_loop_config){.provider = llm,
                                          .workers = cfg->chat_workers,
                                          .replica_id = dirs.replica_id,
                                          .limits = {.max_attempts = cfg->chat_model_attempts}};
    chats = chat_service_new(&ccfg);
    struct mcp_config mcfg = {.version = BERTH_VERSION};
    mcp_backend_chat(&mcfg.backend, chats);
    mcp = mcp_server_new(&mcfg);

    struct http_config hc = {
        .listen = cfg->listen, .loops = cfg->http_loops, .workers = cfg->http_workers};
    http = http_server_new(&hc, &e);
    if (!http)
        goto out;
    struct api api = {
        .st = st,
        .ps = ps,
        .id = id,
        .ac = ac,
        .chats = chats,
        .mcp = mcp,
        .version = BERTH_VERSION,
    };
    api_register(http, &api);
    if (http_server_start(http, &e) < 0)
        goto out;
    access_url = cfg->access_url ? xstrdup(cfg->access_url)
                                 : str_printf("http://%s", http_server_addr(http));
    api.access_url = access_url;
    api.data_dir = dirs.data_dir;
    /* berth agent speaks plain HTTP: behind a TLS proxy, agents dial the listener directly. */
    agent_url = cfg->agent_url ? xstrdup(cfg->agent_url)
                : str_has_prefix(access_url, "http://")
                    ? xstrdup(access_url)
                    : str_printf("http://%s", http_server_addr(http));

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    runner.st = st;
    runner.ps = ps;
    runner.access_url = agent_url;
    runner.berth_bin = exe;
    runner.workspaces_dir = str_printf("%s/workspaces", dirs.data_dir);
    runner.scratch_dir = str_printf("%s/builds", dirs.data_dir);
    /* Scratch copies left by builds a crash interrupted are useless now. */
    nftw(runner.scratch_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    mkdir(runner.scratch_dir, 0700);
    struct provisioner_config pc = {.runners = cfg->provisioners, .worker_id = dirs.replica_id};
    pc.handlers[JOB_TEMPLATE_VERSION_IMPORT].run = template_import_run;
    pc.handlers[JOB_WORKSPACE_BUILD].run = build_job_run;
    pc.handlers[JOB_WORKSPACE_BUILD].abandoned = build_job_abandoned;
    pc.handlers[JOB_WORKSPACE_BUILD].arg = &runner;
    prov = provisioner_start(st, ps, &pc, &e);
    if (!prov)
        goto out;

    if (chat_service_start(chats, &e) < 0)
        goto out;
    if (cfg->dev && server_dev_bootstrap(st, ps, id, dirs.data_dir, access_url, &e) < 0)
        goto out;
    log_info("server", "listening on http://%s (access URL %s, data dir %s)",
             http_server_addr(http), access_url, dirs.data_dir);
    if (server_write_url(&dirs, access_url, http_server_addr(http), &e) < 0)
        goto out;
    printf("berth: listening on http://%s\n", http_server_addr(http));
    fflush(stdout);

    int sig = wait_for_signal();
    log_info("server", "received %s; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    status = 0;
out:
    if (e.message) {
        fprintf(stderr, "berth: %s\n", e.message);
        if (e.detail)
            fprintf(stderr, "  %s\n", e.detail);
    }
    err_clear(&e);
    /* Tool calls may wait for minutes: end their waits so the workers can be joined. */
    if (chats)
        chat_service_shutdown(chats);
    if (http)
        http_server_stop(http);
    provisioner_stop(prov);
    http_server_free(http);
    mcp_server_free(mcp); /* after the HTTP server: its streams held the last calls */
    chat_service_free(chats);
    llm_provider_free(llm);
    agentconn_free(ac);
    identity_free(id);
    pubsub_free(ps);
    store_close(st);
    server_dirs_close(&dirs);
    free(access_url);
    free(agent_url);
    free(runner.workspaces_dir);
    free(runner.scratch_dir);
    return status;
}

int server_main(int argc, char **argv)
{
    struct server_config cfg;
    struct err e = ERR_INIT;
    int r = server_config_parse(&cfg, argc, argv, &e);
    if (r != 0) {
        if (r < 0) {
            fprintf(stderr, "berth server: %s\n", err_msg(&e));
            err_clear(&e);
        }
        server_config_free(&cfg);
        return r < 0 ? 2 : 0;
    }
    int status = server_run(&cfg);
    server_config_free(&cfg);
    return status;
}
