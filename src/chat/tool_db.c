/* tool_db.c - the tools' data (struct tool_db) over the store. */
#include "base/str.h"
#include "base/times.h"
#include "chat/service.h"

#include <string.h>

static int tdb_chat_get(void *arg, const char *chat_id, struct chat *out, struct err *e)
{
    return store_chat_get(arg, chat_id, out, e);
}

static int tdb_chat_bind(void *arg, const char *chat_id, const char *workspace_id,
                         const char *build_id, const char *agent_id, struct chat *out,
                         struct err *e)
{
    return store_chat_bind(arg, chat_id, workspace_id, build_id, agent_id, time_now_us(), out, e);
}

static int tdb_chat_bind_agent(void *arg, const char *chat_id, const char *build_id,
                               const char *agent_id, struct err *e)
{
    return store_chat_bind_agent(arg, chat_id, build_id, agent_id, e);
}

static int tdb_workspace_get(void *arg, const char *id, struct workspace *out, struct err *e)
{
    return store_workspace_get(arg, id, out, e);
}

static int tdb_build_latest(void *arg, const char *workspace_id, struct workspace_build *out,
                            struct err *e)
{
    return store_build_latest(arg, workspace_id, out, e);
}

static int tdb_build_get(void *arg, const char *id, struct workspace_build *out, struct err *e)
{
    return store_build_get(arg, id, out, e);
}

static int tdb_job_get(void *arg, const char *id, struct job *out, struct err *e)
{
    return store_job_get(arg, id, out, e);
}

/* The agents of the latest build: they belong to the resources its job created. A workspace
 * without builds has none. */
static int tdb_agents_latest(void *arg, const char *workspace_id, struct agent_list *out,
                             struct err *e)
{
    memset(out, 0, sizeof *out);
    struct workspace_build b;
    struct err le = ERR_INIT;
    if (store_build_latest(arg, workspace_id, &b, &le) < 0) {
        if (err_is(&le, ERR_NOT_FOUND)) {
            err_clear(&le);
            return 0;
        }
        return err_move(e, &le);
    }
    int r = store_agents_by_job(arg, b.job_id, out, e);
    workspace_build_clear(&b);
    return r;
}

static int tdb_agent_get(void *arg, const char *id, struct workspace_agent *out, struct err *e)
{
    return store_agent_get(arg, id, out, e);
}

static int tdb_agent_build(void *arg, const char *agent_id, char build_id[UUID_STR_LEN],
                           struct err *e)
{
    char workspace_id[UUID_STR_LEN], owner_id[UUID_STR_LEN];
    return store_agent_location(arg, agent_id, workspace_id, owner_id, build_id, e);
}

static int tdb_user_get(void *arg, const char *id, struct user *out, struct err *e)
{
    return store_user_get(arg, id, out, e);
}

/* store_template_list already leaves deleted templates out and orders by name. */
static int tdb_templates(void *arg, struct template_list *out, struct err *e)
{
    return store_template_list(arg, out, e);
}

static int tdb_template_get(void *arg, const char *id, struct template_row *out, struct err *e)
{
    return store_template_get(arg, id, out, e);
}

static int tdb_template_owners(void *arg, const char *template_id, int64_t *out, struct err *e)
{
    return store_template_owner_count(arg, template_id, out, e);
}

static int tdb_version_params(void *arg, const char *version_id, struct version_param_list *out,
                              struct err *e)
{
    return store_version_params(arg, version_id, out, e);
}

void chat_tool_db_init(struct tool_db *db, struct store *st)
{
    *db = (struct tool_db){
        .arg = st,
        .chat_get = tdb_chat_get,
        .chat_bind = tdb_chat_bind,
        .chat_bind_agent = tdb_chat_bind_agent,
        .workspace_get = tdb_workspace_get,
        .build_latest = tdb_build_latest,
        .build_get = tdb_build_get,
        .job_get = tdb_job_get,
        .agents_latest = tdb_agents_latest,
        .agent_get = tdb_agent_get,
        .agent_build = tdb_agent_build,
        .user_get = tdb_user_get,
        .templates = tdb_templates,
        .template_get = tdb_template_get,
        .template_owners = tdb_template_owners,
        .version_params = tdb_version_params,
    };
}
