/*
 * usage.c and budget.c: usage read from real-shaped answers of each API fed
 * whole, byte by byte and in random splits; bounded memory on endless and
 * huge answers, whose usage is still read however long their text; the
 * include_usage rewrite; exact costs; budget reasons;
 * the providers' error bodies.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "config.h"
#include "json.h"
#include "usage.h"
#include "util.h"
#include "tap.h"

static const char *srcdir;

/* The bytes of tests/unit/llm/NAME; stops the test when it is missing. */
static char *
fixture(const char *name, size_t *len)
{
	char *path = xasprintf("%s/tests/unit/llm/%s", srcdir, name), *buf;

	if ((buf = util_read_file(path, 1 << 20, len)) == NULL) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	free(path);
	return buf;
}

enum split { WHOLE, BYTES, RANDOM };
static const char *const split_names[] = { "whole", "byte by byte",
    "random splits" };

/* A fixed-seed generator, the same on every libc. */
static unsigned
next_rand(unsigned *x)
{
	*x = *x * 1103515245u + 12345u;
	return (*x >> 16) & 0x7fff;
}

/* Feed buf to a new meter split as told; fills *u. */
static void
meter(enum usage_api api, bool is_sse, const char *buf, size_t len,
    enum split how, unsigned seed, struct usage *u)
{
	struct usage_meter *m = usage_meter_new(api, is_sse);
	size_t o = 0, n;

	while (o < len) {
		n = how == WHOLE ? len : how == BYTES ? 1 :
		    next_rand(&seed) % 40;	/* 0 too: an empty read */
		n = n < len - o ? n : len - o;
		usage_meter_feed(m, buf + o, n);
		o += n;
	}
	usage_meter_finish(m, u);
	usage_meter_free(m);
}

struct want {
	const char	*file;
	enum usage_api	 api;
	bool		 is_sse;
	const char	*model;
	int64_t		 in, out, cache_read, cache_write;
	bool		 is_seen, has_error;
};

static const struct want wants[] = {
	{ "messages.json", USAGE_MESSAGES, false, "claude-sonnet-4-5",
	    2095, 503, 14000, 2051, true, false },
	/* message_delta 7 then 15: cumulative, so 15 (not 1 + 7 + 15). */
	{ "messages-stream.sse", USAGE_MESSAGES, true, "claude-sonnet-4-5",
	    25, 15, 2000, 100, true, false },
	/* Server tools: the delta's input_tokens overwrites the start's. */
	{ "messages-tools.sse", USAGE_MESSAGES, true, "claude-opus-4-1",
	    10682, 510, 0, 0, true, false },
	{ "messages-error.sse", USAGE_MESSAGES, true, "claude-haiku-4-5",
	    40, 1, 0, 0, true, true },
	/* cached_tokens are inside prompt_tokens: 1117 = 93 + 1024. */
	{ "chat.json", USAGE_CHAT, false, "gpt-4o-2024-08-06",
	    93, 46, 1024, 0, true, false },
	{ "chat-stream-usage.sse", USAGE_CHAT, true, "gpt-4o-mini",
	    86, 300, 1920, 0, true, false },
	{ "chat-stream-nousage.sse", USAGE_CHAT, true, "gpt-4o-mini",
	    0, 0, 0, 0, false, false },
	{ "responses.json", USAGE_RESPONSES, false, "gpt-4.1-2025-04-14",
	    200, 52, 128, 0, true, false },
	{ "responses-stream.sse", USAGE_RESPONSES, true, "gpt-5-codex",
	    941, 311, 4096, 0, true, false },
	/* No blank line after the last event: the end of the stream ends it. */
	{ "responses-incomplete.sse", USAGE_RESPONSES, true, "gpt-5",
	    900, 64, 0, 0, true, false },
};

static bool
same(const struct usage *u, const struct want *w)
{
	return strcmp(u->model, w->model) == 0 && u->tokens.input == w->in &&
	    u->tokens.output == w->out && u->tokens.cache_read ==
	    w->cache_read && u->tokens.cache_write == w->cache_write &&
	    u->is_seen == w->is_seen && u->has_error == w->has_error &&
	    u->skipped == 0;
}

static void
print_usage(const struct usage *u)
{
	printf("#   got %s in %lld out %lld cache_read %lld cache_write %lld "
	    "seen %d error %d skipped %d\n", u->model,
	    (long long)u->tokens.input, (long long)u->tokens.output,
	    (long long)u->tokens.cache_read, (long long)u->tokens.cache_write,
	    u->is_seen, u->has_error, u->skipped);
}

/* Each fixture whole, byte by byte, and in 20 random splits. */
static void
test_fixtures(void)
{
	const struct want *w;
	struct usage u, first_bad;
	char *buf;
	size_t len;
	int how, seed, bad;

	for (w = wants; w < wants + nitems(wants); w++) {
		buf = fixture(w->file, &len);
		for (how = WHOLE; how <= RANDOM; how++) {
			for (seed = 1, bad = 0; seed <= (how == RANDOM ? 20 : 1);
			    seed++) {
				meter(w->api, w->is_sse, buf, len, how,
				    (unsigned)seed, &u);
				if (!same(&u, w) && bad++ == 0)
					first_bad = u;
			}
			if (!ok(bad == 0, "%s, %s: exact usage", w->file,
			    split_names[how]))
				print_usage(&first_bad);
		}
		free(buf);
	}
}

/* One event's data over several data: lines, joined with "\n". */
static void
test_multiline_data(void)
{
	static const char s[] = "event: message_delta\n"
	    "data: {\"type\":\"message_delta\",\n"
	    "data: \"usage\":{\"output_tokens\":\n"
	    "data:42}}\n\n";
	struct usage u;

	meter(USAGE_MESSAGES, true, s, sizeof(s) - 1, BYTES, 0, &u);
	ok(u.is_seen && u.tokens.output == 42,
	    "an event's data: lines are joined with newlines");
}

/* An answer that never ends, or one event without end, holds at most one
 * event's worth; an event over the cap (not text: strings are cut) is
 * skipped, counted, and what follows is still read. */
static void
test_bounded(void)
{
	struct usage_meter *m = usage_meter_new(USAGE_MESSAGES, true);
	static const char delta[] = "event: content_block_delta\ndata: "
	    "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
	    "\"text_delta\",\"text\":\"tick \\u2713\"}}\n\n";
	char chunk[4096], numbers[4096];
	size_t held = 0, i, len;
	char *tail;
	struct usage u;

	for (i = 0; i < 200000; i++) {
		usage_meter_feed(m, delta, sizeof(delta) - 1);
		held = usage_meter_held(m) > held ? usage_meter_held(m) : held;
	}
	ok(held <= 64 * 1024, "200000 events: the meter held %zu bytes at most",
	    held);

	memset(chunk, 'x', sizeof(chunk));
	for (i = 0; i < sizeof(numbers); i += 2)
		memcpy(numbers + i, "1,", 2);
	usage_meter_feed(m, "data: [", 7);
	for (i = 0, held = 0; i < 3 * 256; i++) {	/* 3 MiB, no line end */
		usage_meter_feed(m, numbers, sizeof(numbers));
		held = usage_meter_held(m) > held ? usage_meter_held(m) : held;
	}
	ok(held <= USAGE_EVENT_MAX, "a 3 MiB data line: held %zu bytes at most",
	    held);
	usage_meter_feed(m, "1]\n\n", 4);
	ok(usage_meter_held(m) == 0, "the skipped event's memory is let go");

	usage_meter_feed(m, "event: ping\n: ", 14);	/* an endless comment */
	for (i = 0; i < 3 * 256; i++)
		usage_meter_feed(m, chunk, sizeof(chunk));
	ok(usage_meter_held(m) == 0, "an endless comment line holds nothing");
	usage_meter_feed(m, "\n\n", 2);

	tail = fixture("messages-stream.sse", &len);
	usage_meter_feed(m, tail, len);
	usage_meter_finish(m, &u);
	ok(u.skipped == 1 && u.is_seen && u.tokens.input == 25 &&
	    u.tokens.output == 15, "the event over the cap is counted as "
	    "skipped (%d), the usage after it read", u.skipped);
	usage_meter_free(m);
	free(tail);

	/* A JSON answer over the cap: skipped, not a crash, usage unseen. */
	m = usage_meter_new(USAGE_CHAT, false);
	usage_meter_feed(m, "{\"usage\":{\"prompt_tokens\":1},\"x\":[", 35);
	for (i = 0; i < 2 * 256 + 1; i++)
		usage_meter_feed(m, numbers, sizeof(numbers));
	ok(usage_meter_held(m) == 0, "a JSON answer over the cap is let go");
	usage_meter_feed(m, "1]}", 3);
	usage_meter_finish(m, &u);
	ok(!u.is_seen && u.skipped == 1, "a JSON answer over the cap: "
	    "usage not seen, counted as skipped");
	usage_meter_free(m);

	/* An event of 3 MiB of text: its usage is read, little is held. */
	m = usage_meter_new(USAGE_MESSAGES, true);
	usage_meter_feed(m, "data: {\"type\":\"message_delta\",\"delta\":"
	    "{\"text\":\"", 47);
	for (i = 0, held = 0; i < 3 * 256; i++) {
		usage_meter_feed(m, chunk, sizeof(chunk));
		held = usage_meter_held(m) > held ? usage_meter_held(m) : held;
	}
	usage_meter_feed(m, "\"},\"usage\":{\"output_tokens\":77}}\n\n", 35);
	usage_meter_finish(m, &u);
	ok(u.is_seen && u.skipped == 0 && u.tokens.output == 77 &&
	    held <= 64 * 1024, "an event with 3 MiB of text: its usage read "
	    "(%lld), %zu bytes held at most", (long long)u.tokens.output, held);
	usage_meter_free(m);
}

/* A JSON answer with megabytes of text before its usage: each string is
 * cut, never inside an escape (the JSON kept would not parse), and the
 * usage read. */
static void
test_long_text(void)
{
	static const char *const around[] = { "\\u00e9", "\\\"", "\\\\",
	    "\xc3\xa9", "\\n" };
	struct usage_meter *m;
	struct usage u;
	char *body;
	size_t len, o, i, k, held;
	int how;

	body = xmalloc(3 << 20);
	len = (size_t)snprintf(body, 64, "{\"model\":\"gpt-test\",\"x\":[");
	/* Strings whose 1024th byte falls in an escape or a character. */
	for (i = 0; i < nitems(around); i++)
		for (k = 1016; k < 1026; k++) {
			body[len++] = '"';
			memset(body + len, 'a', k);
			len += k;
			len += (size_t)sprintf(body + len, "%sbbbb\",", around[i]);
		}
	body[len++] = '"';
	memset(body + len, 'x', 2 << 20);
	len += 2 << 20;
	len += (size_t)sprintf(body + len, "\"],\"usage\":{\"prompt_tokens\":"
	    "12,\"completion_tokens\":34}}");
	for (how = WHOLE; how <= RANDOM; how++) {
		if (how == BYTES)
			continue;	/* 2 MiB a byte at a time: slow */
		m = usage_meter_new(USAGE_CHAT, false);
		for (o = 0, held = 0; o < len; o += i) {
			i = how == WHOLE ? len - o : 1 + (o * 7919) % 4093;
			i = i < len - o ? i : len - o;
			usage_meter_feed(m, body + o, i);
			if (usage_meter_held(m) > held)
				held = usage_meter_held(m);
		}
		usage_meter_finish(m, &u);
		usage_meter_free(m);
		ok(u.is_seen && u.tokens.input == 12 && u.tokens.output == 34 &&
		    strcmp(u.model, "gpt-test") == 0 && held <= 256 * 1024,
		    "%s: 2 MiB of text before the usage, which is read; %zu "
		    "bytes held at most", split_names[how], held);
	}
	free(body);
}

/* A model server's answer to a streamed Chat Completions request, as
 * OpenAI's: the usage chunk only when the request asks for it. */
static char *
chat_answer(const char *request, size_t len, size_t *outlen)
{
	cJSON *root = json_parse(request, len, JSON_MAX_DEPTH);
	bool wants_usage = json_bool(root, "stream_options.include_usage",
	    false);

	json_free(root);
	return fixture(wants_usage ? "chat-stream-usage.sse" :
	    "chat-stream-nousage.sse", outlen);
}

static void
test_include_usage(void)
{
	static const char req[] = " {\"model\":\"gpt-4o-mini\",\"stream\":true,"
	    "\"seed\":9007199254740993,\"messages\":[{\"role\":\"user\","
	    "\"content\":\"h\\u00e9\"}]}";
	char err[256], *out, *answer;
	size_t n, alen;
	struct usage u;
	cJSON *root;

	answer = chat_answer(req, sizeof(req) - 1, &alen);
	meter(USAGE_CHAT, true, answer, alen, RANDOM, 7, &u);
	ok(!u.is_seen, "a streamed request without include_usage: no usage");
	free(answer);

	out = usage_chat_include_usage(req, sizeof(req) - 1, 1 << 20, &n, err,
	    sizeof(err));
	is_str(out, " {\"stream_options\":{\"include_usage\":true},\"model\":"
	    "\"gpt-4o-mini\",\"stream\":true,\"seed\":9007199254740993,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\"}]}",
	    "include_usage added, the rest byte for byte");
	ok(out != NULL && n == strlen(out), "its length");
	answer = chat_answer(out, n, &alen);
	meter(USAGE_CHAT, true, answer, alen, RANDOM, 7, &u);
	ok(u.is_seen && u.tokens.output == 300, "rewritten: the usage is seen");
	free(answer);
	free(out);

#define REWRITE(body) usage_chat_include_usage(body, strlen(body), 4096, \
	&n, err, sizeof(err))
	out = REWRITE("{\"stream\":false,\"model\":\"m\"}");
	is_str(out, "{\"stream\":false,\"model\":\"m\"}", "not streamed: as is");
	free(out);
	out = REWRITE("{\"stream\":true,\"stream_options\":{\"include_usage\":"
	    "true}}");
	is_str(out, "{\"stream\":true,\"stream_options\":{\"include_usage\":"
	    "true}}", "include_usage already true: as is");
	free(out);
	out = REWRITE("{\"stream\":true,\"stream_options\":{\"include_usage\":"
	    "false,\"x\":1}}");
	root = out ? json_parse(out, n, 8) : NULL;
	ok(json_bool(root, "stream_options.include_usage", false) &&
	    json_int(root, "stream_options.x", 0) == 1,
	    "include_usage false: made true, the other options kept");
	json_free(root);
	free(out);
	out = REWRITE("{\"stream\":true,\"stream_options\":null}");
	root = out ? json_parse(out, n, 8) : NULL;
	ok(json_bool(root, "stream_options.include_usage", false),
	    "stream_options null: replaced");
	json_free(root);
	free(out);
	out = REWRITE("{\"stream\":false,\"stream\":true}");
	ok(out == NULL && strstr(err, "twice") != NULL,
	    "\"stream\" twice (the upstream may read the last): refused");
	free(out);
	out = REWRITE("{\"stream\":true,\"stream_options\":{\"include_usage\":"
	    "true,\"include_usage\":false}}");
	ok(out == NULL, "include_usage twice: refused");
	free(out);
	out = REWRITE("[1,2]");
	ok(out == NULL && strstr(err, "JSON object") != NULL,
	    "not an object: refused (%s)", err);
	out = usage_chat_include_usage(req, sizeof(req) - 1, 16, &n, err,
	    sizeof(err));
	ok(out == NULL && strstr(err, "over 16") != NULL,
	    "a body over the bound: refused (%s)", err);
#undef REWRITE
}

static void
test_cost(void)
{
	struct price p = { "m", 3000000, 15000000, 300000, 3750000 };
	struct price tiny = { "t", 1, 1, 1, 1 };
	struct price dear = { "d", BUDGET_PRICE_MAX, 0, 0, 0 };
	struct budget_tokens t = { 1234567, 89012, 2000000, 10001 };
	struct budget_tokens one = { 1, 0, 0, 0 }, huge = { INT64_MAX, 0, 0, 0 };
	char buf[32];

	/* 3.703701 + 1.335180 + 0.600000 + 0.03750375, rounded up once. */
	is_int(budget_cost(&p, &t), 5676385, "cost: exact, rounded up once");
	is_int(budget_cost(&tiny, &one), 1, "a millionth of a micro-unit "
	    "rounds up to one");
	is_int(budget_cost(&dear, &huge), INT64_MAX, "overflow saturates");
	is_int(budget_token_total(&t), 1234567 + 89012 + 2000000 + 10001,
	    "every token counted");
	budget_format_money(5676385, buf, sizeof(buf));
	is_str(buf, "5.676385", "money printed with its decimals");
	budget_format_money(710000, buf, sizeof(buf));
	is_str(buf, "0.71", "two decimals at least");
	budget_format_money(5000000, buf, sizeof(buf));
	is_str(buf, "5.00", "whole amounts with two decimals");
}

static void
test_budget(void)
{
	struct config *cfg = config_defaults();
	struct budget_spent s = { 0 };
	char err[256], bad[64], *b = NULL;

	ok(budget_check(cfg, &(struct budget_spent){ INT64_MAX, INT64_MAX,
	    INT64_MAX, INT64_MAX }, err, sizeof(err)) == 0,
	    "no budget set: always allowed");
	cfg->max_tokens = 2000000;
	cfg->max_cost = 5000000;
	cfg->max_cost_per_repo = 20000000;
	cfg->max_cost_per_day = 50000000;
	s.job_tokens = 1999999;
	s.job_cost = 4999999;
	ok(budget_check(cfg, &s, err, sizeof(err)) == 0, "under every budget");
	s.job_tokens = 2000001;
	ok(budget_check(cfg, &s, err, sizeof(err)) == -1, "tokens reached");
	is_str(err, "budget of 2000000 tokens per job reached (2000001 used)",
	    "the tokens reason");
	s.job_tokens = 0;
	s.job_cost = 5010000;
	budget_check(cfg, &s, err, sizeof(err));
	is_str(err, "budget of $5.00 per job reached ($5.01 spent)",
	    "the job's cost reason");
	s.job_cost = 0;
	s.repo_cost = 20000000;
	budget_check(cfg, &s, err, sizeof(err));
	is_str(err, "budget of $20.00 per day for this repository reached "
	    "($20.00 spent)", "the repository's reason");
	s.repo_cost = 0;
	s.day_cost = 50000001;
	budget_check(cfg, &s, err, sizeof(err));
	is_str(err, "budget of $50.00 per day reached ($50.000001 spent)",
	    "the day's reason");

	ok(budget_parse_prices("claude-x=3/15", &cfg->prices, &b, bad,
	    sizeof(bad)) == 0, "a price table");
	ok(budget_check_model(cfg, "claude-x", err, sizeof(err)) == 0,
	    "a priced model passes with a cost budget");
	ok(budget_check_model(cfg, "gpt-unpriced", err, sizeof(err)) == -1 &&
	    strstr(err, "gpt-unpriced has no price") != NULL,
	    "an unpriced model is refused when a cost budget is set");
	cfg->max_cost = cfg->max_cost_per_repo = cfg->max_cost_per_day = 0;
	ok(budget_check_model(cfg, "gpt-unpriced", err, sizeof(err)) == 0,
	    "without a cost budget it passes (tokens only)");
	config_free(cfg);
}

static void
test_error_bodies(void)
{
	char *a = usage_error_body(USAGE_MESSAGES, USAGE_REFUSED_STATUS, NULL,
	    "budget of $5.00 per job reached ($5.01 spent)");
	char *o = usage_error_body(USAGE_RESPONSES, USAGE_REFUSED_STATUS,
	    "budget_exceeded", "budget of \"x\" reached");
	cJSON *ra = json_parse(a, strlen(a), 8), *ro = json_parse(o, strlen(o), 8);
	char *s1 = json_str(ra, "type", 64), *s2 = json_str(ra, "error.type", 64),
	    *s3 = json_str(ra, "error.message", 256),
	    *s4 = json_str(ro, "error.message", 256),
	    *s5 = json_str(ro, "error.code", 64), *s6 = json_str(ro, "error.type", 64);

	ok(USAGE_REFUSED_STATUS != 429 && USAGE_REFUSED_STATUS < 500,
	    "the refusal's status is one clients do not retry");
	is_str(s1, "error", "Anthropic: type error");
	is_str(s2, "permission_error", "Anthropic: error.type for 403");
	is_str(s3, "budget of $5.00 per job reached ($5.01 spent)",
	    "Anthropic: the reason as the message");
	is_str(s4, "budget of \"x\" reached", "OpenAI: the message, escaped");
	is_str(s5, "budget_exceeded", "OpenAI: the code");
	is_str(s6, "insufficient_quota", "OpenAI: the type for 403");
	ok(json_at(ro, "error.param") != NULL && cJSON_IsNull(json_at(ro,
	    "error.param")), "OpenAI: param null");
	free(s1), free(s2), free(s3), free(s4), free(s5), free(s6);
	json_free(ra);
	json_free(ro);
	free(a);
	free(o);
}

static void
test_record(void)
{
	struct pricelist prices = { 0 };
	char why[256], *bad = NULL, *line, *buf;
	struct usage u;
	size_t len;

	budget_parse_prices("claude-sonnet-4-5=3/15/0.30/3.75", &prices, &bad,
	    why, sizeof(why));
	buf = fixture("messages-stream.sse", &len);
	meter(USAGE_MESSAGES, true, buf, len, WHOLE, 0, &u);
	line = usage_record_json(&u, &prices);
	/* 25 * 3 + 15 * 15 + 2000 * 0.30 + 100 * 3.75 = 1275 micro-units. */
	is_str(line, "{\"model\":\"claude-sonnet-4-5\",\"requests\":1,"
	    "\"input_tokens\":25,\"output_tokens\":15,\"cache_read_tokens\":"
	    "2000,\"cache_write_tokens\":100,\"cost\":0.001275,\"usage_seen\":"
	    "true,\"error\":false,\"skipped\":0}", "a priced request's record");
	free(line);
	free(buf);
	buf = fixture("chat.json", &len);
	meter(USAGE_CHAT, false, buf, len, WHOLE, 0, &u);
	line = usage_record_json(&u, &prices);
	ok(strstr(line, "\"cost\":null") != NULL &&
	    strstr(line, "\"input_tokens\":93,") != NULL,
	    "an unpriced model: tokens, cost null");
	free(line);
	free(buf);
	budget_free_prices(&prices);
}

static void
test_paths(void)
{
	enum usage_api api = USAGE_CHAT;

	ok(usage_api_of_path("/v1/messages?beta=true", &api) == 0 &&
	    api == USAGE_MESSAGES, "/v1/messages?beta=true: Messages");
	ok(usage_api_of_path("/chat/completions", &api) == 0 &&
	    api == USAGE_CHAT, "/chat/completions: Chat Completions");
	ok(usage_api_of_path("/v1/responses", &api) == 0 &&
	    api == USAGE_RESPONSES, "/v1/responses: Responses");
	ok(usage_api_of_path("/v1/messages/count_tokens", &api) == -1 &&
	    usage_api_of_path("/v1/messagesx", &api) == -1,
	    "other paths are not metered APIs");
}

/* A model's name as the store keeps it, whoever named it: the answer,
 * or the agent's request when the answer named none. */
static void
test_model_name(void)
{
	char buf[16];

	usage_model_name(buf, sizeof(buf), "claude-3.5@x/y:z+");
	is_str(buf, "claude-3.5@x/y:", "model name: its characters kept, cut");
	usage_model_name(buf, sizeof(buf), "a\"}\n\\ \x1b\xc3\xa9");
	is_str(buf, "a????????", "model name: anything else '?'");
	usage_model_name(buf, sizeof(buf), "");
	is_str(buf, "", "model name: empty");
	usage_model_name(buf, 1, "abc");
	is_str(buf, "", "model name: no room");
}

int
main(void)
{
	if ((srcdir = getenv("SRCDIR")) == NULL || *srcdir == '\0') {
		printf("Bail out! SRCDIR is not set (the top source directory)\n");
		return 1;
	}
	test_fixtures();
	test_model_name();
	test_multiline_data();
	test_bounded();
	test_long_text();
	test_include_usage();
	test_cost();
	test_budget();
	test_error_bodies();
	test_record();
	test_paths();
	return done_testing();
}
