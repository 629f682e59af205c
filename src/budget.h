/*
 * Money, the [llm] price table and budgets: amounts are int64 micro-units
 * of the prices' currency (1.25 is 1250000), so sums never drift.
 */
#ifndef HANDOFF_BUDGET_H
#define HANDOFF_BUDGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define BUDGET_MICRO		1000000LL	/* micro-units in one unit */
#define BUDGET_MONEY_MAX	(1000000000LL * BUDGET_MICRO)	/* a budget */
#define BUDGET_PRICE_MAX	(1000000LL * BUDGET_MICRO)	/* per Mtok */

/* Tokens of one or more requests to one model. input excludes the cached
 * tokens on every API (OpenAI's cached_tokens are taken out of its input
 * and counted as cache_read), so the four never overlap. */
struct budget_tokens {
	int64_t	input, output, cache_read, cache_write;
};

/* What was spent so far, as the gateway adds it up before a request. */
struct budget_spent {
	int64_t	job_tokens;	/* every token of the job's requests */
	int64_t	job_cost;	/* micro-units, priced requests only */
	int64_t	repo_cost;	/* the repository's jobs, this UTC day */
	int64_t	day_cost;	/* every job, this UTC day */
};

/* Parse a decimal amount ("5", "0.25", at most 6 decimals, at most
 * BUDGET_MONEY_MAX) into micro-units. Returns 0, or -1. */
int budget_parse_money(const char *s, int64_t max, int64_t *out);
/* v as the user writes it: "5.00", "0.25", "0.000003" (2 to 6 decimals). */
void budget_format_money(int64_t v, char *buf, size_t len);
/* Parse [llm] prices ("model=in/out[/cache_read/cache_write], ...") into l
 * (replacing it). On a bad entry returns -1 with a copy of it in *bad
 * (caller frees) and why in msg. */
int budget_parse_prices(const char *v, struct pricelist *l, char **bad,
    char *msg, size_t msglen);
void budget_free_prices(struct pricelist *l);
/* The price of model (exact match), or NULL when unpriced. */
const struct price *budget_price(const struct pricelist *l, const char *model);
/* The cost of t at price p in micro-units, rounded up (so budgets never
 * undercount); saturates at INT64_MAX. */
int64_t budget_cost(const struct price *p, const struct budget_tokens *t);
/* Every token of t. */
int64_t budget_token_total(const struct budget_tokens *t);
/* Whether a new request may go: 0, or -1 with "budget of ... reached
 * (...)" in err. Checks max_tokens and max_cost per job, max_cost_per_repo
 * and max_cost_per_day. */
int budget_check(const struct config *cfg, const struct budget_spent *s,
    char *err, size_t errlen);
/* Whether a request for model may go when a cost budget is set: a model
 * without a price would spend unseen. 0, or -1 with the reason in err. */
int budget_check_model(const struct config *cfg, const char *model,
    char *err, size_t errlen);

#endif
