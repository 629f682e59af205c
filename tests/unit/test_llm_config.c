/*
 * The [llm] section of config.c: defaults, keys as secrets (masked when
 * printed, never passed through [agent] env), URLs, the price table and
 * budgets in micro-units, each bad value with a file:line error.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "util.h"
#include "tap.h"
#define CONFIG_TEST_DIR "/tmp/handoff-test-llm.XXXXXX"
#include "config_test.h"

#define ANTHROPIC_CANARY	"sk-ant-canary-5e0b7c1d"
#define OPENAI_CANARY		"sk-openai-canary-93aa01fe"

static const char *const files[] = { "t.ini", "openai-key", "ca.pem",
    "printed.ini" };

static void
test_defaults(void)
{
	struct config *cfg = config_defaults();

	ok(cfg->anthropic_key.value == NULL && cfg->openai_key.value == NULL,
	    "no LLM key by default");
	is_str(cfg->anthropic_url, "https://api.anthropic.com",
	    "default anthropic_url");
	is_str(cfg->openai_url, "https://api.openai.com/v1",
	    "default openai_url");
	ok(cfg->ca_file == NULL, "ca_file unset: the system's certificates");
	is_int(cfg->prices.n, 0, "no prices");
	ok(cfg->max_tokens == 0 && cfg->max_cost == 0 &&
	    cfg->max_cost_per_day == 0 && cfg->max_cost_per_repo == 0,
	    "no budgets");
	config_free(cfg);
}

static const char *const full_text =
    "[llm]\n"
    "anthropic_key = env:HANDOFF_TEST_ANTHROPIC\n"
    "anthropic_url = https://llm.example.com/anthropic/\n"
    "openai_key = file:%s/openai-key\n"
    "openai_url = http://127.0.0.1:8000/v1\n"
    "ca_file = %s/ca.pem\n"
    "prices = claude-sonnet-4-5=3/15/0.30/3.75, gpt-5 = 1.25 / 10 / 0.125,"
    " local-model=0/0\n"
    "max_tokens = 2000000\n"
    "max_cost = 5\n"
    "max_cost_per_day = 20.5\n"
    "max_cost_per_repo = 0.000001\n";

static void
check_full(const struct config *cfg, const char *what)
{
	const struct price *p;

	if (!ok(cfg != NULL, "%s: loads", what)) {
		printf("#   %s\n", err);
		return;
	}
	ok(cfg->anthropic_key.value != NULL &&
	    strcmp(cfg->anthropic_key.value, ANTHROPIC_CANARY) == 0,
	    "%s: anthropic_key from env:", what);
	ok(cfg->openai_key.value != NULL &&
	    strcmp(cfg->openai_key.value, OPENAI_CANARY) == 0,
	    "%s: openai_key from file:", what);
	is_str(cfg->anthropic_url, "https://llm.example.com/anthropic",
	    "%s: anthropic_url without its trailing /", what);
	is_str(cfg->openai_url, "http://127.0.0.1:8000/v1",
	    "%s: openai_url, a local server", what);
	is_int(cfg->prices.n, 3, "%s: three prices", what);
	p = cfg->prices.n == 3 ? &cfg->prices.v[0] : NULL;
	ok(p && !strcmp(p->model, "claude-sonnet-4-5") && p->input == 3000000 &&
	    p->output == 15000000 && p->cache_read == 300000 &&
	    p->cache_write == 3750000, "%s: four prices in micro-units", what);
	p = cfg->prices.n == 3 ? &cfg->prices.v[1] : NULL;
	ok(p && !strcmp(p->model, "gpt-5") && p->input == 1250000 &&
	    p->output == 10000000 && p->cache_read == 125000 &&
	    p->cache_write == 1250000, "%s: three prices, spaces around, "
	    "cache_write at the input price", what);
	p = cfg->prices.n == 3 ? &cfg->prices.v[2] : NULL;
	ok(p && !strcmp(p->model, "local-model") && p->input == 0 &&
	    p->output == 0 && p->cache_read == 0, "%s: a free model", what);
	is_int(cfg->max_tokens, 2000000, "%s: max_tokens", what);
	is_int(cfg->max_cost, 5000000, "%s: max_cost in micro-units", what);
	is_int(cfg->max_cost_per_day, 20500000, "%s: max_cost_per_day", what);
	is_int(cfg->max_cost_per_repo, 1, "%s: max_cost_per_repo, one "
	    "micro-unit", what);
}

/* s with check-config's masks "<set, from SOURCE>" turned back into SOURCE,
 * as an operator would write the file; in place. */
static void
unmask(char *s)
{
	char *m, *e;

	while ((m = strstr(s, "<set, from ")) != NULL &&
	    (e = strchr(m, '>')) != NULL) {
		memmove(e, e + 1, strlen(e + 1) + 1);
		memmove(m, m + 11, strlen(m + 11) + 1);
	}
}

static void
test_full(void)
{
	char *text = xasprintf(full_text, dir, dir), *out, *path;
	struct config *cfg;

	free(write_file("openai-key", OPENAI_CANARY "\n"));
	free(write_file("ca.pem", "-----BEGIN CERTIFICATE-----\n"));
	setenv("HANDOFF_TEST_ANTHROPIC", ANTHROPIC_CANARY, 1);
	cfg = load(text);
	check_full(cfg, "a full [llm]");
	out = cfg ? printed(cfg) : xstrdup("");
	ok(strstr(out, ANTHROPIC_CANARY) == NULL &&
	    strstr(out, OPENAI_CANARY) == NULL, "printed: no key");
	ok(strstr(out, "anthropic_key = <set, from env:HANDOFF_TEST_ANTHROPIC>\n")
	    != NULL && strstr(out, "openai_key = <set, from file:") != NULL,
	    "printed: the keys masked, where they came from");
	ok(strstr(out, "prices = claude-sonnet-4-5=3.00/15.00/0.30/3.75, "
	    "gpt-5=1.25/10.00/0.125/1.25, local-model=0.00/0.00/0.00/0.00\n")
	    != NULL, "printed: every price");
	ok(strstr(out, "max_cost = 5.00\n") != NULL &&
	    strstr(out, "max_cost_per_day = 20.50\n") != NULL &&
	    strstr(out, "max_cost_per_repo = 0.000001\n") != NULL &&
	    strstr(out, "max_tokens = 2000000\n") != NULL, "printed: budgets");
	unmask(out);
	path = write_file("printed.ini", out);
	config_free(cfg);
	cfg = config_load(path, err, sizeof(err));
	check_full(cfg, "printed and read again");
	config_free(cfg);
	free(path);
	free(out);
	free(text);
}

static void
test_errors(void)
{
	fails("a price with one number", "[llm]\n\nprices = gpt-5=1.25\n",
	    "t.ini:3: [llm] prices: expected model=input/output"
	    "[/cache_read/cache_write]", "got \"gpt-5=1.25\"", NULL);
	fails("the bad entry is named", "[llm]\nprices = a=1/2, b=oops/2, c=1/2\n",
	    "t.ini:2: [llm] prices:", "got \"b=oops/2\"", NULL);
	fails("five numbers", "[llm]\nprices = m=1/2/3/4/5\n",
	    "t.ini:2: [llm] prices:", "got \"m=1/2/3/4/5\"", NULL);
	fails("seven decimals", "[llm]\nprices = m=1.1234567/2\n",
	    "[llm] prices:", "at most 6 decimals", NULL);
	fails("a negative price", "[llm]\nprices = m=-1/2\n",
	    "[llm] prices:", "got \"m=-1/2\"", NULL);
	fails("no model", "[llm]\nprices = =1/2\n", "[llm] prices:", NULL);
	fails("a model with a space", "[llm]\nprices = gpt 5=1/2\n",
	    "[llm] prices:", "got \"gpt 5=1/2\"", NULL);
	fails("a model twice", "[llm]\nprices = m=1/2, n=1/1, m=3/4\n",
	    "t.ini:2: [llm] prices: expected each model once, got m twice",
	    NULL);
	fails("max_cost 0", "[llm]\nmax_cost = 0\n", "t.ini:2: [llm] max_cost: "
	    "expected an amount such as 5 or 0.25 (more than 0", NULL);
	fails("max_cost with a currency", "[llm]\nmax_cost = $5\n",
	    "[llm] max_cost:", "got \"$5\"", NULL);
	fails("max_cost in exponent form", "[llm]\nmax_cost_per_day = 1e3\n",
	    "[llm] max_cost_per_day:", NULL);
	fails("max_cost with a comma", "[llm]\nmax_cost_per_repo = 5,00\n",
	    "[llm] max_cost_per_repo:", NULL);
	fails("max_cost over a billion", "[llm]\nmax_cost = 1000000001\n",
	    "[llm] max_cost:", NULL);
	fails("max_tokens with a suffix", "[llm]\nmax_tokens = 2M\n",
	    "t.ini:2: [llm] max_tokens: expected a number of tokens", NULL);
	fails("an ftp URL", "[llm]\nopenai_url = ftp://example.com/v1\n",
	    "t.ini:2: [llm] openai_url: expected an http:// or https:// URL",
	    NULL);
	fails("a relative ca_file that is not there",
	    "[llm]\nca_file = no-ca.pem\n",
	    "t.ini:2: [llm] ca_file: expected the path of a readable PEM file",
	    "/no-ca.pem\"", NULL);
	fails("a missing ca_file", "[llm]\nca_file = /nonexistent/ca.pem\n",
	    "t.ini:2: [llm] ca_file:", NULL);
	fails("an unknown key", "[llm]\nmax_budget = 5\n", "t.ini:2: [llm] "
	    "max_budget: unknown key; expected one of anthropic_key", NULL);
}

/* The real keys never reach the agent through [agent] env. */
static void
test_agent_env(void)
{
	struct config *cfg;

	setenv("ANTHROPIC_API_KEY", ANTHROPIC_CANARY, 1);
	setenv("HANDOFF_TEST_COPY", OPENAI_CANARY, 1);
	fails("the key's own variable passed through",
	    "[llm]\nanthropic_key = env:ANTHROPIC_API_KEY\n"
	    "[agent]\nenv = LANG, ANTHROPIC_API_KEY\n",
	    "t.ini:4: [agent] env: ANTHROPIC_API_KEY is where [llm] "
	    "anthropic_key (line 2) is read from", NULL);
	{
		char *text = xasprintf("[llm]\nopenai_key = file:%s/openai-key\n"
		    "[agent]\nenv = HANDOFF_TEST_COPY\n", dir);
		fails("a copy of a file key in another variable", text,
		    "t.ini:4: [agent] env: HANDOFF_TEST_COPY holds the value "
		    "of [llm] openai_key (line 2)", NULL);
		free(text);
	}
	setenv("OPENAI_BASE_URL", "https://api.openai.com/v1", 1);
	fails("a gateway variable with an [llm] key",
	    "[llm]\nanthropic_key = sk-inline-key\n[agent]\n"
	    "env = OPENAI_BASE_URL\n", "t.ini:4: [agent] env: OPENAI_BASE_URL "
	    "is set by handoff for the [llm] gateway", NULL);
	cfg = load("[agent]\nenv = OPENAI_BASE_URL\n");
	ok(cfg != NULL, "without an [llm] key, [agent] env may name it");
	config_free(cfg);
}

int
main(void)
{
	static const char *const secrets[] = { ANTHROPIC_CANARY,
	    OPENAI_CANARY, NULL };
	size_t i;
	char *p;

	config_secrets = secrets;
	if (mkdtemp(dir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_defaults();
	test_full();
	test_errors();
	test_agent_env();
	for (i = 0; i < nitems(files); i++) {
		p = xasprintf("%s/%s", dir, files[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
	return done_testing();
}
