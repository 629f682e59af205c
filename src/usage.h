/*
 * Token usage read from an LLM API's answers as the bytes arrive (JSON or
 * server-sent events, any chunking), the request rewrite that makes
 * streamed Chat Completions report usage, and the providers' error bodies.
 */
#ifndef HANDOFF_USAGE_H
#define HANDOFF_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "budget.h"

#define USAGE_EVENT_MAX		(1024 * 1024)	/* one event or JSON body */
#define USAGE_MODEL_MAX		128
/* A refused request (budget reached): not 429 or 5xx, which every client
 * retries; 403 says this key may not spend any more. */
#define USAGE_REFUSED_STATUS	403

enum usage_api {
	USAGE_MESSAGES,		/* Anthropic POST /v1/messages */
	USAGE_CHAT,		/* OpenAI POST /v1/chat/completions */
	USAGE_RESPONSES,	/* OpenAI POST /v1/responses */
};

/* One request's usage. tokens.input excludes cached tokens on every API
 * (budget.h), so OpenAI's prompt_tokens is input + cache_read here. */
struct usage {
	char	model[USAGE_MODEL_MAX];	/* "" when the answer named none */
	struct budget_tokens tokens;
	bool	is_seen;		/* the answer reported usage */
	bool	has_error;		/* an error body or event */
	int	skipped;		/* events over USAGE_EVENT_MAX, not read */
};

struct usage_meter;

/* A meter for one answer of api: is_sse for text/event-stream, else one
 * JSON body. Caller frees with usage_meter_free. */
struct usage_meter *usage_meter_new(enum usage_api api, bool is_sse);
/* Feed the next len bytes of the answer, split anywhere. Memory stays
 * under USAGE_EVENT_MAX plus a small constant, however long the stream. */
void usage_meter_feed(struct usage_meter *m, const char *buf, size_t len);
/* The answer ended: read what is pending and fill *u. */
void usage_meter_finish(struct usage_meter *m, struct usage *u);
void usage_meter_free(struct usage_meter *m);
/* Bytes of the answer the meter holds now (at most USAGE_EVENT_MAX). */
size_t usage_meter_held(const struct usage_meter *m);

/* One request's record, a line of the job's net/usage.jsonl without its
 * newline: model, requests (1), input_tokens, output_tokens,
 * cache_read_tokens, cache_write_tokens (show --json's names), cost (a
 * decimal number, exact; null when the model has no price), usage_seen,
 * error, skipped. Caller frees. */
char *usage_record_json(const struct usage *u, const struct pricelist *prices);

/* What a job's model requests came to, in a line: "14 requests · 183k
 * tokens in, 9k out · ≈ $0.71" (tokens in: input, cache reads and writes;
 * no cost when nothing was priced, cost_micros < 0). */
void usage_line(int64_t requests, int64_t in, int64_t out,
    int64_t cost_micros, char *buf, size_t len);

/* The API of a request path after the provider's prefix ("/v1/messages",
 * "/v1/chat/completions", "/v1/responses"; OpenAI's base URL ends in /v1,
 * so "/chat/completions" too). Returns 0, or -1 for any other path. */
int usage_api_of_path(const char *path, enum usage_api *api);

/* src as a model's name in dst (len bytes, cut): characters model names
 * use (letters, digits, "._:/@+-"), any other byte '?'. */
void usage_model_name(char *dst, size_t len, const char *src);
/* The provider whose API api is: "anthropic" or "openai", as the store
 * and the metrics name it. */
const char *usage_api_provider(enum usage_api api);

/* A Chat Completions request body with "stream": true but without
 * stream_options.include_usage true, given it; any other body as it is.
 * Returns a new body (caller frees) and its length, or NULL with the
 * reason in err when the body is over max bytes or not a JSON object. */
char *usage_chat_include_usage(const char *body, size_t len, size_t max,
    size_t *outlen, char *err, size_t errlen);

/* The body of an error in api's own format: Anthropic's {"type":"error",
 * "error":{"type","message"}} or OpenAI's {"error":{"message","type",
 * "param","code"}}, the type named after status (403: permission_error).
 * code: OpenAI's code ("budget_exceeded"). Caller frees. */
char *usage_error_body(enum usage_api api, int status, const char *code,
    const char *message);

#endif
