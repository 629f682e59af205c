/*
 * Token usage from LLM answers, read as they stream through the gateway.
 * A server-sent events parser that keeps at most one event's data
 * (USAGE_EVENT_MAX; a longer event is skipped and counted) with each JSON
 * string cut to STRING_KEEP bytes, so that an answer's text, however long,
 * never hides the usage beside it; then per API
 * the events that carry usage: Anthropic's message_start and cumulative
 * message_delta (overwritten, never added, as the SDK's accumulate_event
 * does), Chat Completions' usage chunk, Responses' terminal response.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "usage.h"
#include "util.h"

#define KEEP_BYTES	(64 * 1024)	/* a buffer over this is let go */
#define FIELD_MAX	8		/* "data", "event", ...: longer is noise */
#define STRING_KEEP	1024		/* bytes kept of a JSON string */

enum line_state {
	L_FIELD,	/* reading a field name */
	L_VALUE,	/* just past "data:", maybe before its one space */
	L_DATA,		/* in a data: value */
	L_SKIP,		/* in any other line */
};

struct usage_meter {
	enum usage_api	 api;
	bool		 is_sse;
	struct usage	 u;
	char		*buf;		/* the event's data, or the JSON body */
	size_t		 len, cap;
	bool		 is_over;	/* past USAGE_EVENT_MAX: skipped */
	bool		 has_data;	/* a data: line in this event */
	enum line_state	 state;
	char		 field[FIELD_MAX];
	size_t		 flen;
	bool		 after_cr;	/* a CR ended the last line */
	bool		 in_str;	/* in a JSON string */
	bool		 is_cutting;	/* past STRING_KEEP in it */
	int		 esc;		/* -1 after a backslash, else the
					 * hex digits left of a \u escape */
	size_t		 str_len;	/* bytes of the string so far */
};

struct usage_meter *
usage_meter_new(enum usage_api api, bool is_sse)
{
	struct usage_meter *m = xcalloc(1, sizeof(*m));

	m->api = api;
	m->is_sse = is_sse;
	return m;
}

void
usage_meter_free(struct usage_meter *m)
{
	if (m == NULL)
		return;
	free(m->buf);
	free(m);
}

size_t
usage_meter_held(const struct usage_meter *m)
{
	return m->cap;
}

static void
append(struct usage_meter *m, const char *p, size_t n)
{
	if (m->is_over)
		return;
	if (n > USAGE_EVENT_MAX - m->len) {
		m->is_over = true;
		free(m->buf);
		m->buf = NULL;
		m->len = m->cap = 0;
		return;
	}
	if (m->len + n + 1 > m->cap) {
		m->cap = m->cap ? m->cap : 4096;
		while (m->len + n + 1 > m->cap)
			m->cap *= 2;
		m->buf = xrealloc(m->buf, m->cap);
	}
	memcpy(m->buf + m->len, p, n);
	m->len += n;
}

/*
 * Whether byte c of JSON text is kept: all but a string's bytes past
 * STRING_KEEP, cut where a character or an escape starts, so the text kept
 * is JSON of the same structure (a string's closing quote always stays).
 * What the meter reads, numbers and model names, is short.
 */
static bool
json_byte(struct usage_meter *m, unsigned char c)
{
	if (!m->in_str) {
		if (c == '"') {
			m->in_str = true;
			m->is_cutting = false;
			m->esc = 0;
			m->str_len = 0;
		}
		return true;
	}
	if (m->esc == -1)
		m->esc = c == 'u' ? 4 : 0;
	else if (m->esc > 0)
		m->esc--;
	else if (c == '"') {
		m->in_str = false;
		return true;
	} else {
		if (m->str_len >= STRING_KEEP && (c & 0xc0) != 0x80)
			m->is_cutting = true;
		if (c == '\\')
			m->esc = -1;
	}
	m->str_len++;
	return !m->is_cutting;
}

/* Append JSON text, each string cut to STRING_KEEP bytes. */
static void
append_json(struct usage_meter *m, const char *p, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n; i++) {
		if (json_byte(m, (unsigned char)p[i]))
			continue;
		if (i > run)
			append(m, p + run, i - run);
		run = i + 1;
	}
	if (n > run)
		append(m, p + run, n - run);
}

/* ---- reading one event's JSON ---- */

void
usage_model_name(char *dst, size_t len, const char *src)
{
	size_t i;
	char c;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++) {
		c = src[i];
		dst[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:/@+-", c) != NULL ?
		    c : '?';
	}
	if (len > 0)
		dst[i] = '\0';
}

/* The model's name, kept to characters that model names use. */
static void
set_model(struct usage *u, const cJSON *node)
{
	const cJSON *s = json_at(node, "model");

	if (!cJSON_IsString(s) || s->valuestring[0] == '\0')
		return;
	usage_model_name(u->model, sizeof(u->model), s->valuestring);
}

/* *v = the count at path in node when it is there and not null. */
static void
take(const cJSON *node, const char *path, int64_t *v)
{
	int64_t n = json_int(node, path, -1);

	if (n >= 0)
		*v = n;
}

/* Anthropic: input_tokens excludes cache reads and writes already. Every
 * field present overwrites: message_delta's counts are cumulative. */
static void
read_messages(struct usage *u, const cJSON *root)
{
	const cJSON *node = root, *usage;
	char *type = json_str(root, "type", 64);

	if (type != NULL && strcmp(type, "error") == 0)
		u->has_error = true;
	if (type != NULL && strcmp(type, "message_start") == 0)
		node = json_at(root, "message");
	free(type);
	set_model(u, node);
	if (!cJSON_IsObject(usage = json_at(node, "usage")))
		return;
	u->is_seen = true;
	take(usage, "input_tokens", &u->tokens.input);
	take(usage, "output_tokens", &u->tokens.output);
	take(usage, "cache_read_input_tokens", &u->tokens.cache_read);
	take(usage, "cache_creation_input_tokens", &u->tokens.cache_write);
}

/* OpenAI counts cached tokens inside its input: split them out, so input
 * means what it means for Anthropic. */
static void
set_openai(struct usage *u, const cJSON *usage, const char *in,
    const char *cached, const char *out)
{
	int64_t input = 0, cache = 0;

	u->is_seen = true;
	take(usage, in, &input);
	take(usage, cached, &cache);
	cache = cache < input ? cache : input;
	u->tokens.input = input - cache;
	u->tokens.cache_read = cache;
	u->tokens.cache_write = 0;
	u->tokens.output = 0;
	take(usage, out, &u->tokens.output);
}

static void
read_chat(struct usage *u, const cJSON *root)
{
	const cJSON *usage;

	if (json_has(root, "error"))
		u->has_error = true;
	set_model(u, root);
	if (cJSON_IsObject(usage = json_at(root, "usage")))
		set_openai(u, usage, "prompt_tokens",
		    "prompt_tokens_details.cached_tokens", "completion_tokens");
}

/* A Responses event carries the response in "response"; the JSON answer
 * is the response itself. */
static void
read_responses(struct usage *u, const cJSON *root)
{
	const cJSON *node = root, *usage;
	char *type = json_str(root, "type", 64);

	if (type != NULL && (strcmp(type, "error") == 0 ||
	    strcmp(type, "response.failed") == 0))
		u->has_error = true;
	free(type);
	if (cJSON_IsObject(json_at(root, "response")))
		node = json_at(root, "response");
	else if (json_has(root, "error") && !json_has(root, "type"))
		u->has_error = true;	/* an error body */
	set_model(u, node);
	if (cJSON_IsObject(usage = json_at(node, "usage")))
		set_openai(u, usage, "input_tokens",
		    "input_tokens_details.cached_tokens", "output_tokens");
}

static void
read_json(struct usage_meter *m, const char *data, size_t len)
{
	cJSON *root;

	if (m->api == USAGE_CHAT && len == 6 && memcmp(data, "[DONE]", 6) == 0)
		return;
	/* Most events are text deltas: parse only those that can matter. */
	if (m->is_sse && m->u.model[0] != '\0' &&
	    memmem(data, len, "\"usage\"", 7) == NULL &&
	    memmem(data, len, "\"error\"", 7) == NULL &&
	    memmem(data, len, "\"response.failed\"", 17) == NULL)
		return;
	if ((root = json_parse(data, len, JSON_MAX_DEPTH)) == NULL)
		return;
	if (cJSON_IsObject(root)) {
		if (m->api == USAGE_MESSAGES)
			read_messages(&m->u, root);
		else if (m->api == USAGE_CHAT)
			read_chat(&m->u, root);
		else
			read_responses(&m->u, root);
	}
	json_free(root);
}

/* ---- server-sent events ---- */

/* A blank line: the event is complete. */
static void
dispatch(struct usage_meter *m)
{
	if (m->is_over)
		m->u.skipped++;
	else if (m->has_data)
		read_json(m, m->buf, m->len);
	m->len = 0;
	m->is_over = m->has_data = m->in_str = false;
	if (m->cap > KEEP_BYTES) {
		free(m->buf);
		m->buf = NULL;
		m->cap = 0;
	}
}

/* root as one line of JSON, root freed. Caller frees. */
static char *
printed(cJSON *root)
{
	char *text, *out;

	if ((text = cJSON_PrintUnformatted(root)) == NULL)
		abort();	/* out of memory */
	out = xstrdup(text);
	cJSON_free(text);
	cJSON_Delete(root);
	return out;
}

/* A data line starts: lines of one event are joined with "\n". */
static void
data_line(struct usage_meter *m)
{
	if (m->has_data)
		append(m, "\n", 1);
	m->has_data = true;
}

static bool
is_field(const struct usage_meter *m, const char *name)
{
	return m->flen == strlen(name) && memcmp(m->field, name, m->flen) == 0;
}

static void
end_line(struct usage_meter *m)
{
	if (m->state == L_FIELD && m->flen == 0)
		dispatch(m);
	else if (m->state == L_FIELD && is_field(m, "data"))
		data_line(m);	/* "data" alone: an empty data line */
	m->state = L_FIELD;
	m->flen = 0;
}

static void
feed_sse(struct usage_meter *m, const char *p, size_t len)
{
	const char *end = p + len, *eol;
	char c;

	while (p < end) {
		c = *p;
		if (m->after_cr && c == '\n') {
			m->after_cr = false;
			p++;
			continue;
		}
		m->after_cr = false;
		if (c == '\r' || c == '\n') {
			end_line(m);
			m->after_cr = c == '\r';
			p++;
			continue;
		}
		switch (m->state) {
		case L_FIELD:
			if (c == ':') {
				m->state = is_field(m, "data") ? L_VALUE : L_SKIP;
				if (m->state == L_VALUE)
					data_line(m);
			} else if (m->flen < FIELD_MAX)
				m->field[m->flen++] = c;
			else
				m->state = L_SKIP;
			p++;
			break;
		case L_VALUE:
			m->state = L_DATA;
			if (c == ' ')
				p++;
			break;
		case L_DATA:
		case L_SKIP:
			for (eol = p; eol < end && *eol != '\r' && *eol != '\n';
			    eol++)
				;
			if (m->state == L_DATA)
				append_json(m, p, (size_t)(eol - p));
			p = eol;
			break;
		}
	}
}

void
usage_meter_feed(struct usage_meter *m, const char *buf, size_t len)
{
	if (m->is_sse)
		feed_sse(m, buf, len);
	else
		append_json(m, buf, len);
}

void
usage_meter_finish(struct usage_meter *m, struct usage *u)
{
	if (m->is_sse) {
		if (m->state != L_FIELD || m->flen != 0)
			end_line(m);
		if (m->has_data || m->is_over)
			dispatch(m);	/* the stream ended without a blank line */
	} else if (m->is_over)
		m->u.skipped++;
	else if (m->len > 0)
		read_json(m, m->buf, m->len);
	m->len = 0;
	m->is_over = m->in_str = false;
	*u = m->u;
}

char *
usage_record_json(const struct usage *u, const struct pricelist *prices)
{
	const struct price *p = budget_price(prices, u->model);
	cJSON *root = cJSON_CreateObject();
	char cost[32];

	cJSON_AddStringToObject(root, "model", u->model);
	cJSON_AddNumberToObject(root, "requests", 1);
	cJSON_AddNumberToObject(root, "input_tokens", (double)u->tokens.input);
	cJSON_AddNumberToObject(root, "output_tokens", (double)u->tokens.output);
	cJSON_AddNumberToObject(root, "cache_read_tokens",
	    (double)u->tokens.cache_read);
	cJSON_AddNumberToObject(root, "cache_write_tokens",
	    (double)u->tokens.cache_write);
	if (p != NULL) {
		/* Printed from the integer: a double could not hold it. */
		budget_format_money(budget_cost(p, &u->tokens), cost,
		    sizeof(cost));
		cJSON_AddRawToObject(root, "cost", cost);
	} else
		cJSON_AddNullToObject(root, "cost");
	cJSON_AddBoolToObject(root, "usage_seen", u->is_seen);
	cJSON_AddBoolToObject(root, "error", u->has_error);
	cJSON_AddNumberToObject(root, "skipped", u->skipped);
	return printed(root);
}

/* ---- requests and errors ---- */

int
usage_api_of_path(const char *path, enum usage_api *api)
{
	static const struct {
		const char	*path;
		enum usage_api	 api;
	} paths[] = {
		{ "/v1/messages", USAGE_MESSAGES },
		{ "/v1/chat/completions", USAGE_CHAT },
		{ "/chat/completions", USAGE_CHAT },
		{ "/v1/responses", USAGE_RESPONSES },
		{ "/responses", USAGE_RESPONSES },
	};
	size_t i, n = strcspn(path, "?");

	for (i = 0; i < nitems(paths); i++)
		if (strlen(paths[i].path) == n &&
		    strncmp(path, paths[i].path, n) == 0) {
			*api = paths[i].api;
			return 0;
		}
	return -1;
}

const char *
usage_api_provider(enum usage_api api)
{
	return api == USAGE_MESSAGES ? "anthropic" : "openai";
}

/* How many members of obj are called name (cJSON keeps duplicates, and
 * the upstream may read the last where we read the first). */
static int
count_members(const cJSON *obj, const char *name)
{
	const cJSON *c;
	int n = 0;

	cJSON_ArrayForEach(c, obj)
		if (c->string != NULL && strcmp(c->string, name) == 0)
			n++;
	return n;
}

char *
usage_chat_include_usage(const char *body, size_t len, size_t max,
    size_t *outlen, char *err, size_t errlen)
{
	static const char add[] = "\"stream_options\":{\"include_usage\":true},";
	cJSON *root = NULL, *opts;
	char *out = NULL, *text;
	size_t at;

	if (len > max) {
		snprintf(err, errlen, "request body of %zu bytes, over %zu",
		    len, max);
		return NULL;
	}
	if ((root = json_parse(body, len, JSON_MAX_DEPTH)) == NULL ||
	    !cJSON_IsObject(root)) {
		snprintf(err, errlen, "request body is not a JSON object");
		goto out;
	}
	opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
	if (count_members(root, "stream") > 1 ||
	    count_members(root, "stream_options") > 1 ||
	    (cJSON_IsObject(opts) && count_members(opts, "include_usage") > 1)) {
		snprintf(err, errlen, "request body names stream, "
		    "stream_options or include_usage twice");
		goto out;
	}
	if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "stream")) ||
	    json_bool(root, "stream_options.include_usage", false)) {
		out = xstrndup(body, len);
		*outlen = len;
	} else if (opts == NULL) {
		/* Added in front, the rest byte for byte as it came. */
		for (at = 0; at < len && body[at] != '{'; at++)
			;	/* JSON whitespace: the parser took the rest */
		at++;
		out = xmalloc(len + sizeof(add));
		memcpy(out, body, at);
		memcpy(out + at, add, sizeof(add) - 1);
		memcpy(out + at + sizeof(add) - 1, body + at, len - at);
		*outlen = len + sizeof(add) - 1;
		out[*outlen] = '\0';
	} else {
		if (!cJSON_IsObject(opts)) {
			opts = cJSON_CreateObject();
			cJSON_ReplaceItemInObjectCaseSensitive(root,
			    "stream_options", opts);
		}
		cJSON_DeleteItemFromObjectCaseSensitive(opts, "include_usage");
		cJSON_AddBoolToObject(opts, "include_usage", 1);
		if ((text = cJSON_PrintUnformatted(root)) == NULL) {
			snprintf(err, errlen, "cannot print the request body");
			goto out;
		}
		out = xstrdup(text);
		*outlen = strlen(out);
		cJSON_free(text);
	}
out:
	json_free(root);
	return out;
}

/* The error's type as each provider names it for status. */
static const char *
error_type(enum usage_api api, int status)
{
	bool is_openai = api != USAGE_MESSAGES;

	switch (status) {
	case 401:	return is_openai ? "invalid_request_error" :
			    "authentication_error";
	case 403:	return is_openai ? "insufficient_quota" :
			    "permission_error";
	case 404:	return is_openai ? "invalid_request_error" :
			    "not_found_error";
	case 413:	return is_openai ? "invalid_request_error" :
			    "request_too_large";
	case 429:	return is_openai ? "rate_limit_exceeded" :
			    "rate_limit_error";
	default:
		if (status >= 500)
			return is_openai ? "server_error" : "api_error";
		return "invalid_request_error";
	}
}

char *
usage_error_body(enum usage_api api, int status, const char *code,
    const char *message)
{
	cJSON *root = cJSON_CreateObject(), *e;

	if (api == USAGE_MESSAGES) {
		cJSON_AddStringToObject(root, "type", "error");
		e = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(e, "type", error_type(api, status));
		cJSON_AddStringToObject(e, "message", message);
	} else {
		e = cJSON_AddObjectToObject(root, "error");
		cJSON_AddStringToObject(e, "message", message);
		cJSON_AddStringToObject(e, "type", error_type(api, status));
		cJSON_AddNullToObject(e, "param");
		if (code != NULL)
			cJSON_AddStringToObject(e, "code", code);
		else
			cJSON_AddNullToObject(e, "code");
	}
	return printed(root);
}

/* A count of tokens as people read it: 950, 9.4k, 183k, 1.2M. */
static void
tokens(int64_t n, char *buf, size_t len)
{
	if (n < 1000)
		snprintf(buf, len, "%lld", (long long)n);
	else if (n < 10000)
		snprintf(buf, len, "%.1fk", (double)n / 1000);
	else if (n < 1000000)
		snprintf(buf, len, "%.0fk", (double)n / 1000);
	else
		snprintf(buf, len, "%.1fM", (double)n / 1e6);
}

void
usage_line(int64_t requests, int64_t in, int64_t out, int64_t cost_micros,
    char *buf, size_t len)
{
	char tin[24], tout[24], cost[48] = "";

	tokens(in, tin, sizeof(tin));
	tokens(out, tout, sizeof(tout));
	if (cost_micros >= 0)
		snprintf(cost, sizeof(cost), " \u00b7 \u2248 $%lld.%02lld",
		    (long long)((cost_micros + 5000) / 1000000),
		    (long long)((cost_micros + 5000) % 1000000 / 10000));
	snprintf(buf, len, "%lld request%s \u00b7 %s tokens in, %s out%s",
	    (long long)requests, requests == 1 ? "" : "s", tin, tout, cost);
}
