/* Unit tests for template/manifest.h: berth.yaml parsing, defaults, and the exact message of
 * every validation mistake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/str.h"
#include "template/manifest.h"

#include <stdlib.h>
#include <string.h>

/* Parses yaml, which must fail with exactly msg, leaving the manifest empty. */
static void expect_error(const char *yaml, const char *msg)
{
    struct manifest m;
    struct err e = ERR_INIT;
    int rc = manifest_parse(yaml, strlen(yaml), &m, &e);
    if (rc == 0)
        fail_msg("expected \"%s\" but the manifest parsed", msg);
    assert_int_equal(e.kind, ERR_BAD_REQUEST);
    assert_string_equal(e.message, msg);
    assert_null(m.provision);
    assert_null(m.params);
    assert_int_equal(m.nparams, 0);
    assert_null(m.agents);
    manifest_free(&m);
    err_clear(&e);
}

/* The start of a manifest with one parameter; the test appends the parameter's fields. */
#define PARAM_HEAD "provision: ./provision\nparameters:\n  - "

static const char full_yaml[] =
    "display_name: Local workspace\n"
    "description: A directory on the server host with an agent process.\n"
    "icon: \"\"                         # optional\n"
    "provision: ./provision           # executable, relative to the archive root\n"
    "provision_timeout: 10m\n"
    "parameters:\n"
    "  - name: project\n"
    "    display_name: Project\n"
    "    description: Git URL to clone\n"
    "    type: string\n"
    "    default: \"https://example.com/repo.git\"\n"
    "    mutable: true\n"
    "    ephemeral: false\n"
    "    options:\n"
    "      - {name: Small, value: \"https://example.com/repo.git\", description: \"\"}\n"
    "      - {name: Other, value: \"https://example.com/other.git\", icon: /i.png}\n"
    "    validation:\n"
    "      regex: \"^https://\"\n"
    "      error: \"must be an https URL\"\n"
    "  - name: cpus\n"
    "    type: number\n"
    "    default: 2\n"
    "    mutable: false\n"
    "    validation: {min: 1, max: 8, monotonic: increasing}\n"
    "  - name: gpu\n"
    "    type: bool\n"
    "    default: true\n"
    "    ephemeral: true\n"
    "  - name: tags\n"
    "    type: list(string)\n"
    "    default: [a, b]\n"
    "  - name: token\n"
    "    type: string\n"
    "agents:\n"
    "  - name: main\n"
    "    directory: /work\n"
    "    connection_timeout: 0\n"
    "    scripts:\n"
    "      - name: setup\n"
    "        run_on_start: true\n"
    "        start_blocks_login: true\n"
    "        timeout: 5m\n"
    "        script: |\n"
    "          echo \"ready to work\"\n"
    "      - name: bye\n"
    "        run_on_stop: true\n"
    "        script: echo bye\n"
    "  - name: dev-berth-chat\n";

static void test_full_manifest(void **state)
{
    (void)state;
    struct manifest m;
    struct err e = ERR_INIT;
    assert_int_equal(manifest_parse(full_yaml, strlen(full_yaml), &m, &e), 0);
    assert_string_equal(m.display_name, "Local workspace");
    assert_string_equal(m.description, "A directory on the server host with an agent process.");
    assert_string_equal(m.icon, "");
    assert_string_equal(m.provision, "provision");
    assert_int_equal(m.provision_timeout_ms, 600000);
    assert_int_equal(m.nparams, 5);

    const struct manifest_param *p = &m.params[0];
    assert_string_equal(p->name, "project");
    assert_string_equal(p->display_name, "Project");
    assert_string_equal(p->description, "Git URL to clone");
    assert_string_equal(p->type, "string");
    assert_string_equal(p->default_value, "https://example.com/repo.git");
    assert_false(p->required);
    assert_true(p->mutable_);
    assert_false(p->ephemeral);
    assert_int_equal(p->noptions, 2);
    assert_string_equal(p->options[0].name, "Small");
    assert_string_equal(p->options[0].value, "https://example.com/repo.git");
    assert_string_equal(p->options[0].description, "");
    assert_string_equal(p->options[0].icon, "");
    assert_string_equal(p->options[1].icon, "/i.png");
    assert_string_equal(p->validation_regex, "^https://");
    assert_string_equal(p->validation_error, "must be an https URL");
    assert_false(p->has_min);
    assert_false(p->has_max);
    assert_string_equal(p->monotonic, "");

    p = &m.params[1];
    assert_string_equal(p->name, "cpus");
    assert_string_equal(p->type, "number");
    assert_string_equal(p->default_value, "2");
    assert_false(p->mutable_);
    assert_true(p->has_min && p->has_max);
    assert_int_equal(p->min, 1);
    assert_int_equal(p->max, 8);
    assert_string_equal(p->monotonic, "increasing");
    assert_string_equal(p->validation_regex, "");
    assert_string_equal(p->validation_error, "");
    assert_string_equal(p->display_name, "");

    p = &m.params[2];
    assert_string_equal(p->default_value, "true");
    assert_true(p->ephemeral);
    assert_string_equal(m.params[3].type, "list(string)");
    assert_string_equal(m.params[3].default_value, "[\"a\",\"b\"]");
    assert_null(m.params[4].default_value);
    assert_true(m.params[4].required);
    assert_int_equal(m.params[4].noptions, 0);

    assert_int_equal(m.nagents, 2);
    const struct manifest_agent *a = &m.agents[0];
    assert_string_equal(a->name, "main");
    assert_string_equal(a->directory, "/work");
    assert_int_equal(a->connection_timeout_ms, 0);
    assert_int_equal(a->nscripts, 2);
    assert_string_equal(a->scripts[0].name, "setup");
    assert_string_equal(a->scripts[0].script, "echo \"ready to work\"\n");
    assert_true(a->scripts[0].run_on_start);
    assert_false(a->scripts[0].run_on_stop);
    assert_true(a->scripts[0].start_blocks_login);
    assert_int_equal(a->scripts[0].timeout_ms, 300000);
    assert_true(a->scripts[1].run_on_stop);
    assert_false(a->scripts[1].start_blocks_login);
    assert_int_equal(a->scripts[1].timeout_ms, 0);
    assert_string_equal(m.agents[1].name, "dev-berth-chat");
    assert_string_equal(m.agents[1].directory, "");
    assert_int_equal(m.agents[1].connection_timeout_ms, 120000);
    assert_int_equal(m.agents[1].nscripts, 0);
    manifest_free(&m);
    manifest_free(&m); /* freeing twice is harmless: the first call empties it */
    assert_null(m.provision);
}

static void test_minimal_manifest(void **state)
{
    (void)state;
    struct manifest m;
    struct err e = ERR_INIT;
    const char *y = "provision: ./bin//./up/\n";
    assert_int_equal(manifest_parse(y, strlen(y), &m, &e), 0);
    assert_string_equal(m.provision, "bin/up");
    assert_int_equal(m.provision_timeout_ms, 600000);
    assert_string_equal(m.display_name, "");
    assert_string_equal(m.description, "");
    assert_string_equal(m.icon, "");
    assert_int_equal(m.nparams, 0);
    assert_int_equal(m.nagents, 0);
    manifest_free(&m);
    /* explicit nulls are the same as absent keys; not NUL-terminated input is fine */
    y = "provision: run\nparameters:\nagents: ~\nicon: null\nprovision_timeout: 1h30mXXXX";
    assert_int_equal(manifest_parse(y, strlen(y) - 4, &m, &e), 0);
    assert_string_equal(m.provision, "run");
    assert_int_equal(m.provision_timeout_ms, 5400000);
    manifest_free(&m);
    manifest_free(NULL);
}

static void test_parameter_defaults(void **state)
{
    (void)state;
    struct manifest m;
    struct err e = ERR_INIT;
    const char *y = PARAM_HEAD "name: l\n    type: list(string)\n    default: '[\"x\", \"y\"]'\n"
                               "    options: [{name: X, value: x}, {name: Y, value: y}]\n"
                               "  - {name: e, type: string, default: \"\", ephemeral: true}\n"
                               "  - {name: n, type: number, default: \"-3\"}\n"
                               "  - {name: s, type: string, default: 42}\n"
                               "  - {name: b, type: bool, default: 'false'}\n"
                               "  - {name: q, type: string, default: \"true\"}\n";
    assert_int_equal(manifest_parse(y, strlen(y), &m, &e), 0);
    assert_string_equal(m.params[0].default_value, "[\"x\",\"y\"]");
    assert_string_equal(m.params[1].default_value, "");
    assert_false(m.params[1].required);
    assert_string_equal(m.params[2].default_value, "-3");
    assert_string_equal(m.params[3].default_value, "42");
    assert_string_equal(m.params[4].default_value, "false");
    assert_string_equal(m.params[5].default_value, "true");
    manifest_free(&m);
}

static void test_provision_errors(void **state)
{
    (void)state;
    expect_error("display_name: x\n", "provision: is required");
    expect_error("", "provision: is required");
    expect_error("provision: [a]\n", "provision: must be a string");
    expect_error("provision: \"\"\n", "provision: must not be empty");
    expect_error("provision: /bin/sh\n",
                 "provision: \"/bin/sh\" must be a relative path inside the archive: it is an "
                 "absolute path");
    expect_error("provision: ./a/../../x\n",
                 "provision: \"./a/../../x\" must be a relative path inside the archive: it "
                 "contains a \"..\" path segment");
    expect_error("provision: ./\n",
                 "provision: \"./\" must be a relative path inside the archive: it names the "
                 "archive root");
    expect_error("provision: p\nprovision_timeout: 0\n",
                 "provision_timeout: 0 must be more than 0 and at most 24h");
    expect_error("provision: p\nprovision_timeout: 25h\n",
                 "provision_timeout: \"25h\" must be more than 0 and at most 24h");
    expect_error("provision: p\nprovision_timeout: soon\n",
                 "provision_timeout: \"soon\" is not a duration (like 90s, 10m or 1h30m)");
    expect_error("provision: p\nprovision_timeout: 10\n",
                 "provision_timeout: 10 is not a duration (like 90s, 10m or 1h30m)");
    expect_error("provision: p\nprovision_timeout: {a: 1}\n",
                 "provision_timeout: must be a duration (like 90s, 10m or 1h30m)");
}

static void test_top_level_errors(void **state)
{
    (void)state;
    expect_error("provision: p\ndisplay_name: 12345678901234567890123456789012345678901234567890"
                 "123456789012345\n",
                 "display_name: must be at most 64 characters (it has 65)");
    expect_error("provision: p\ndescription: true\n", "description: must be a string");
    expect_error("provision: p\nicon: [x]\n", "icon: must be a string");
    expect_error("provision: p\nprovison: q\n", "provison: unknown key");
    expect_error("- a\n- b\n", "berth.yaml: the top level must be a mapping");
    expect_error("provision: p\nparameters: {a: 1}\n", "parameters: must be a list");
    expect_error("provision: p\nagents: 3\n", "agents: must be a list");
}

static void test_parameter_validation_errors(void **state)
{
    (void)state;
    expect_error(PARAM_HEAD "{name: project, type: string}\n  - {name: x, type: string}\n"
                            "  - name: cpus\n    type: number\n"
                            "    validation: {regex: \"^[0-9]+$\", error: digits}\n",
                 "parameters[2] (cpus).validation.regex: only string parameters may set a regex");
    expect_error(PARAM_HEAD
                 "name: project\n    type: string\n    validation: {regex: \"^https\"}\n",
                 "parameters[0] (project).validation.error: a regex needs error text");
    expect_error(PARAM_HEAD "name: project\n    type: string\n    validation: {min: 1}\n",
                 "parameters[0] (project).validation.min: only number parameters may set min");
    expect_error(PARAM_HEAD "name: project\n    type: bool\n    validation: {max: 1}\n",
                 "parameters[0] (project).validation.max: only number parameters may set max");
    expect_error(PARAM_HEAD "name: p\n    type: string\n    validation: {monotonic: increasing}\n",
                 "parameters[0] (p).validation.monotonic: only number parameters may set "
                 "monotonic");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    validation: {monotonic: up}\n",
                 "parameters[0] (n).validation.monotonic: \"up\" is not increasing or decreasing");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    validation: {min: 5, max: 3}\n",
                 "parameters[0] (n).validation.min: 5 is greater than max 3");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    validation: {min: \"1\"}\n",
                 "parameters[0] (n).validation.min: must be an integer");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    validation: [1]\n",
                 "parameters[0] (n).validation: must be a mapping");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    validation: {minimum: 1}\n",
                 "parameters[0] (n).validation.minimum: unknown key");
    expect_error(PARAM_HEAD
                 "name: s\n    type: string\n    validation: {regex: \"(a\", error: x}\n",
                 "parameters[0] (s).validation.regex: \"(a\" is not a valid regular expression: "
                 "Unmatched ( or \\(");
    expect_error(PARAM_HEAD "name: s\n    type: string\n"
                            "    validation: {regex: \"((a{100}){100}){100}\", error: x}\n",
                 "parameters[0] (s).validation.regex: \"((a{100}){100}){100}\" is too complex "
                 "(repetitions are too large)");
    expect_error(PARAM_HEAD "name: s\n    type: string\n"
                            "    validation: {regex: \"^a++++++++++++\", error: x}\n",
                 "parameters[0] (s).validation.regex: \"^a++++++++++++\" is too complex "
                 "(repetitions are too large)");
    expect_error(PARAM_HEAD "name: s\n    type: string\n"
                            "    validation: {regex: \"(a)\\\\1\", error: x}\n",
                 "parameters[0] (s).validation.regex: \"(a)\\\\1\" uses back-references, which "
                 "are not supported");
    /* a default must satisfy the validation */
    expect_error(PARAM_HEAD "name: url\n    type: string\n    default: git://x\n"
                            "    validation: {regex: \"^https://\", error: must be https}\n",
                 "parameters[0] (url).default: \"git://x\" does not match the regex "
                 "\"^https://\"");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    default: 0\n"
                            "    validation: {min: 1, max: 8}\n",
                 "parameters[0] (n).default: 0 is less than the minimum 1");
    expect_error(PARAM_HEAD "name: n\n    type: number\n    default: 9\n"
                            "    validation: {min: 1, max: 8}\n",
                 "parameters[0] (n).default: 9 is greater than the maximum 8");
}

static void test_parameter_errors(void **state)
{
    (void)state;
    expect_error(PARAM_HEAD "{name: region, type: string}\n  - {name: zone, type: string}\n"
                            "  - {name: size, type: string}\n  - {name: region, type: number}\n",
                 "parameters[3] (region).name: duplicate parameter name \"region\"");
    expect_error(PARAM_HEAD "{type: string}\n", "parameters[0].name: is required");
    expect_error(PARAM_HEAD "{name: 3, type: string}\n", "parameters[0].name: must be a string");
    expect_error(PARAM_HEAD "{name: Size, type: string}\n",
                 "parameters[0] (Size).name: \"Size\" is not a valid parameter name (a lower-case "
                 "letter, then lower-case letters, digits and underscores)");
    expect_error(PARAM_HEAD "{name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                            "aaaa, type: string}\n",
                 "parameters[0].name: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                 "aaaaaaaa\" is longer than 64 characters");
    expect_error(PARAM_HEAD "{name: size}\n", "parameters[0] (size).type: is required");
    expect_error(PARAM_HEAD "{name: size, type: int}\n",
                 "parameters[0] (size).type: \"int\" is not a valid type (string, number, bool "
                 "or list(string))");
    expect_error(PARAM_HEAD "{name: size, type: string, mutable: \"yes\"}\n",
                 "parameters[0] (size).mutable: must be a boolean");
    expect_error(PARAM_HEAD "{name: size, type: string, ephemeral: 1}\n",
                 "parameters[0] (size).ephemeral: must be a boolean");
    expect_error(PARAM_HEAD "{name: size, type: string, display_name: [a]}\n",
                 "parameters[0] (size).display_name: must be a string");
    expect_error(PARAM_HEAD "{name: token, type: string, ephemeral: true}\n",
                 "parameters[0] (token).ephemeral: an ephemeral parameter needs a default");
    expect_error(PARAM_HEAD "{name: size, type: string, size: 1}\n",
                 "parameters[0] (size).size: unknown key");
    expect_error(PARAM_HEAD "{name: n, type: number, default: abc}\n",
                 "parameters[0] (n).default: \"abc\" is not an integer");
    expect_error(PARAM_HEAD "{name: n, type: number, default: 1.5}\n",
                 "parameters[0] (n).default: \"1.5\" is not an integer");
    expect_error(PARAM_HEAD "{name: b, type: bool, default: \"yes\"}\n",
                 "parameters[0] (b).default: \"yes\" is not true or false");
    expect_error(PARAM_HEAD "{name: l, type: list(string), default: x}\n",
                 "parameters[0] (l).default: \"x\" is not a JSON array of strings");
    expect_error(PARAM_HEAD "{name: l, type: list(string), default: '[1]'}\n",
                 "parameters[0] (l).default: \"[1]\" is not a JSON array of strings");
    expect_error(PARAM_HEAD "{name: l, type: list(string), default: [a, [b]]}\n",
                 "parameters[0] (l).default: must be a list of strings");
    expect_error(PARAM_HEAD "{name: s, type: string, default: [a]}\n",
                 "parameters[0] (s).default: a list is only valid for list(string) parameters");
    expect_error(PARAM_HEAD "{name: s, type: string, default: {a: b}}\n",
                 "parameters[0] (s).default: must be a string, number or boolean");
    expect_error("provision: p\nparameters: [1]\n", "parameters[0]: must be a mapping");
}

static void test_option_errors(void **state)
{
    (void)state;
    expect_error(PARAM_HEAD "name: size\n    type: string\n    default: huge\n"
                            "    options: [{name: Small, value: small}, {name: Big, value: big}]\n",
                 "parameters[0] (size).default: \"huge\" is not one of the options");
    expect_error(PARAM_HEAD "name: tags\n    type: list(string)\n    default: [a, c]\n"
                            "    options: [{name: A, value: a}, {name: B, value: b}]\n",
                 "parameters[0] (tags).default: \"c\" is not one of the options");
    expect_error(PARAM_HEAD
                 "name: size\n    type: string\n"
                 "    options: [{name: Small, value: small}, {name: Big, value: small}]\n",
                 "parameters[0] (size).options[1].value: duplicate option value \"small\"");
    expect_error(PARAM_HEAD "name: size\n    type: string\n"
                            "    options: [{name: Small, value: small}, {name: Small, value: s}]\n",
                 "parameters[0] (size).options[1].name: duplicate option name \"Small\"");
    expect_error(PARAM_HEAD "name: size\n    type: number\n"
                            "    options: [{name: One, value: 1}, {name: Two, value: two}]\n",
                 "parameters[0] (size).options[1].value: \"two\" is not an integer");
    expect_error(PARAM_HEAD "name: size\n    type: string\n    options: [{name: One}]\n",
                 "parameters[0] (size).options[0].value: is required");
    expect_error(PARAM_HEAD "name: size\n    type: string\n    options: [{value: x}]\n",
                 "parameters[0] (size).options[0].name: is required");
    expect_error(PARAM_HEAD "name: size\n    type: string\n    options: [{name: a, value: [x]}]\n",
                 "parameters[0] (size).options[0].value: must be a string, number or boolean");
    expect_error(PARAM_HEAD "name: size\n    type: string\n    options: [{name: a, value: b, "
                            "colour: red}]\n",
                 "parameters[0] (size).options[0].colour: unknown key");
    expect_error(PARAM_HEAD "name: size\n    type: string\n    options: x\n",
                 "parameters[0] (size).options: must be a list");
    /* option values of any scalar type are stringified */
    struct manifest m;
    struct err e = ERR_INIT;
    const char *y = PARAM_HEAD "name: n\n    type: number\n    default: 2\n"
                               "    options: [{name: 1, value: 1}, {name: Two, value: 2}]\n";
    assert_int_equal(manifest_parse(y, strlen(y), &m, &e), 0);
    assert_string_equal(m.params[0].options[0].name, "1");
    assert_string_equal(m.params[0].options[1].value, "2");
    manifest_free(&m);
}

#define AGENT_HEAD "provision: p\nagents:\n  - "

static void test_agent_errors(void **state)
{
    (void)state;
    expect_error(AGENT_HEAD "name: main\n  - name: Main_Box\n",
                 "agents[1] (Main_Box).name: \"Main_Box\" is not a valid agent name (lower-case "
                 "letters, digits and single hyphens)");
    expect_error(AGENT_HEAD "name: a--b\n",
                 "agents[0] (a--b).name: \"a--b\" is not a valid agent name (lower-case "
                 "letters, digits and single hyphens)");
    expect_error(AGENT_HEAD "name: -a\n",
                 "agents[0] (-a).name: \"-a\" is not a valid agent name (lower-case "
                 "letters, digits and single hyphens)");
    expect_error(AGENT_HEAD "name: a-\n",
                 "agents[0] (a-).name: \"a-\" is not a valid agent name (lower-case "
                 "letters, digits and single hyphens)");
    expect_error(AGENT_HEAD "name: \"\"\n",
                 "agents[0].name: \"\" is not a valid agent name (lower-case "
                 "letters, digits and single hyphens)");
    expect_error(AGENT_HEAD "name: main\n  - name: dev\n  - name: main\n",
                 "agents[2] (main).name: duplicate agent name \"main\"");
    expect_error(AGENT_HEAD "directory: /x\n", "agents[0].name: is required");
    expect_error(AGENT_HEAD "name: main\n    scrpts: []\n", "agents[0] (main).scrpts: unknown key");
    expect_error(AGENT_HEAD "name: main\n    directory: 3\n",
                 "agents[0] (main).directory: must be a string");
    expect_error(AGENT_HEAD "name: main\n    connection_timeout: forever\n",
                 "agents[0] (main).connection_timeout: \"forever\" is not a duration (like 90s, "
                 "10m or 1h30m)");
    expect_error("provision: p\nagents: [x]\n", "agents[0]: must be a mapping");
}

#define SCRIPT_HEAD AGENT_HEAD "name: main\n    scripts:\n      - "

static void test_script_errors(void **state)
{
    (void)state;
    expect_error(SCRIPT_HEAD "{name: setup, script: x}\n",
                 "agents[0] (main).scripts[0] (setup): run_on_start or run_on_stop must be true");
    expect_error(SCRIPT_HEAD "{name: setup, script: x, run_on_start: true}\n"
                             "      - {name: setup, script: y, run_on_stop: true}\n",
                 "agents[0] (main).scripts[1] (setup).name: duplicate script name \"setup\"");
    expect_error(SCRIPT_HEAD "{name: setup, run_on_start: true}\n",
                 "agents[0] (main).scripts[0] (setup).script: is required");
    expect_error(SCRIPT_HEAD "{script: x, run_on_start: true}\n",
                 "agents[0] (main).scripts[0].name: is required");
    expect_error(SCRIPT_HEAD "{name: \"\", script: x, run_on_start: true}\n",
                 "agents[0] (main).scripts[0].name: must not be empty");
    expect_error(SCRIPT_HEAD "{name: s, script: x, run_on_start: yes}\n",
                 "agents[0] (main).scripts[0] (s).run_on_start: must be a boolean");
    expect_error(SCRIPT_HEAD "{name: s, script: x, run_on_stop: true, timeout: 5x}\n",
                 "agents[0] (main).scripts[0] (s).timeout: \"5x\" is not a duration (like 90s, "
                 "10m or 1h30m)");
    expect_error(SCRIPT_HEAD "{name: s, script: [x], run_on_stop: true}\n",
                 "agents[0] (main).scripts[0] (s).script: must be a string");
    expect_error(SCRIPT_HEAD "{name: s, script: x, run_on_stop: true, cron: x}\n",
                 "agents[0] (main).scripts[0] (s).cron: unknown key");
    /* a script over 64 KiB */
    size_t big = 64 * 1024 + 1;
    char *body = malloc(big + 1);
    memset(body, 'x', big);
    body[big] = '\0';
    char *y = str_printf(SCRIPT_HEAD "{name: s, run_on_start: true, script: %s}\n", body);
    expect_error(y, "agents[0] (main).scripts[0] (s).script: must be at most 65536 bytes (it has "
                    "65537)");
    free(y);
    free(body);
}

static void test_yaml_errors(void **state)
{
    (void)state;
    expect_error("provision: p\nparameters: [\n", "berth.yaml: line 3 column 1: did not find "
                                                  "expected node content");
    expect_error("provision: p\n  bad: indent\n",
                 "berth.yaml: line 2 column 6: mapping values are not allowed in this context");
    expect_error("provision: &p x\nicon: *p\n", "berth.yaml: YAML aliases are not supported");
    expect_error("base: &b {a: 1}\nother: *b\n", "berth.yaml: YAML aliases are not supported");
    expect_error("provision: p\nprovision: q\n",
                 "berth.yaml: line 2 column 1: duplicate key \"provision\"");
    expect_error("provision: !!binary aGk=\n",
                 "berth.yaml: line 1 column 12: YAML tags other than !!str are not supported");
    expect_error("provision: p\n---\nprovision: q\n",
                 "berth.yaml: line 2 column 1: only one YAML document is allowed");
    expect_error("provision: \"a\\0b\"\n",
                 "berth.yaml: line 1 column 12: NUL characters are not allowed");
    expect_error("provision: \"\xff\"\n", "berth.yaml: byte 12: invalid leading UTF-8 octet");
    expect_error("? [a]\n: b\n", "berth.yaml: line 1 column 3: mapping keys must be scalars");
    /* !!str forces a string; quoted scalars are strings */
    struct manifest m;
    struct err e = ERR_INIT;
    const char *y = "provision: !!str 3\ndisplay_name: \"true\"\n";
    assert_int_equal(manifest_parse(y, strlen(y), &m, &e), 0);
    assert_string_equal(m.provision, "3");
    assert_string_equal(m.display_name, "true");
    manifest_free(&m);
}

static void test_limits(void **state)
{
    (void)state;
    /* nesting: 32 levels (the top mapping and 31 lists) are fine (the key fails later), 33 are
     * not */
    struct buf b = BUF_INIT;
    buf_puts(&b, "provision: p\nx: ");
    for (int i = 0; i < 31; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < 31; i++)
        buf_putc(&b, ']');
    expect_error(buf_str(&b), "x: unknown key");
    buf_reset(&b);
    buf_puts(&b, "provision: p\nx: ");
    for (int i = 0; i < 32; i++)
        buf_putc(&b, '[');
    for (int i = 0; i < 32; i++)
        buf_putc(&b, ']');
    expect_error(buf_str(&b), "berth.yaml: line 2 column 35: nesting is deeper than 32 levels");
    buf_free(&b);

    /* over 1 MiB */
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1);
    memset(big, '#', n);
    memcpy(big, "provision: p\n", 13);
    big[n] = '\0';
    expect_error(big, "berth.yaml: larger than 1 MiB (1048577 bytes)");
    free(big);

    /* more than 100 parameters, 32 agents, 64 options, 64 scripts */
    buf_puts(&b, "provision: p\nparameters:\n");
    for (int i = 0; i < 101; i++)
        buf_printf(&b, "  - {name: p%d, type: string}\n", i);
    expect_error(buf_str(&b), "parameters: must have at most 100 items (it has 101)");
    buf_reset(&b);
    buf_puts(&b, "provision: p\nagents:\n");
    for (int i = 0; i < 33; i++)
        buf_printf(&b, "  - {name: a%d}\n", i);
    expect_error(buf_str(&b), "agents: must have at most 32 items (it has 33)");
    buf_reset(&b);
    buf_puts(&b, PARAM_HEAD "name: p\n    type: string\n    options:\n");
    for (int i = 0; i < 65; i++)
        buf_printf(&b, "      - {name: o%d, value: v%d}\n", i, i);
    expect_error(buf_str(&b), "parameters[0] (p).options: must have at most 64 items (it has 65)");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_manifest),
        cmocka_unit_test(test_minimal_manifest),
        cmocka_unit_test(test_parameter_defaults),
        cmocka_unit_test(test_provision_errors),
        cmocka_unit_test(test_top_level_errors),
        cmocka_unit_test(test_parameter_validation_errors),
        cmocka_unit_test(test_parameter_errors),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_agent_errors),
        cmocka_unit_test(test_script_errors),
        cmocka_unit_test(test_yaml_errors),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
