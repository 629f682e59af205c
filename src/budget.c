/*
 * Money, the [llm] price table and budgets. Amounts are micro-units in an
 * int64, prices micro-units per million tokens: a cost is computed exactly
 * and rounded up once, so budgets never undercount and sums never drift.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "config_check.h"
#include "util.h"

#define MTOK		1000000LL	/* prices are per million tokens */
#define PRICE_FIELDS	4

int
budget_parse_money(const char *s, int64_t max, int64_t *out)
{
	int64_t v = 0, scale = BUDGET_MICRO;
	int digits = 0;

	for (; isdigit((unsigned char)*s); s++, digits++) {
		if (v > (max / BUDGET_MICRO) / 10 + 1)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (digits == 0 || v > max / BUDGET_MICRO)
		return -1;
	v *= BUDGET_MICRO;
	if (*s == '.') {
		for (s++, digits = 0; isdigit((unsigned char)*s); s++) {
			if (++digits > 6)
				return -1;
			scale /= 10;
			v += (*s - '0') * scale;
		}
		if (digits == 0)
			return -1;
	}
	if (*s != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

void
budget_format_money(int64_t v, char *buf, size_t len)
{
	int64_t frac = v % BUDGET_MICRO;
	int decimals = 6;

	while (decimals > 2 && frac % 10 == 0) {
		frac /= 10;
		decimals--;
	}
	snprintf(buf, len, "%lld.%0*lld", (long long)(v / BUDGET_MICRO),
	    decimals, (long long)frac);
}

void
budget_free_prices(struct pricelist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].model);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

const struct price *
budget_price(const struct pricelist *l, const char *model)
{
	size_t i;

	if (model == NULL)
		return NULL;
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].model, model) == 0)
			return &l->v[i];
	return NULL;
}

/* One "model=in/out[/cache_read/cache_write]" into p; 0 or -1. Cache
 * prices left out are the input price: an upper bound for cache reads,
 * which every provider prices below input. */
static int
parse_price(char *item, struct price *p)
{
	int64_t *field[PRICE_FIELDS] = { &p->input, &p->output, &p->cache_read,
	    &p->cache_write };
	char *eq, *part, *rest;
	int n = 0;

	if ((eq = strchr(item, '=')) == NULL)
		return -1;
	*eq = '\0';
	item = util_trim(item);
	if (*item == '\0' || config_check_has_bad_char(item, true))
		return -1;
	for (rest = eq + 1; (part = strsep(&rest, "/")) != NULL; n++)
		if (n == PRICE_FIELDS || budget_parse_money(util_trim(part),
		    BUDGET_PRICE_MAX, field[n]) == -1)
			return -1;
	if (n < 2)
		return -1;
	if (n < 3)
		p->cache_read = p->input;
	if (n < 4)
		p->cache_write = p->input;
	p->model = xstrdup(item);
	return 0;
}

int
budget_parse_prices(const char *v, struct pricelist *l, char **bad,
    char *msg, size_t msglen)
{
	struct pricelist n = { 0 };
	char *copy = xstrdup(v), *rest = copy, *item, *work;
	struct price p;
	int rc = -1;

	while ((item = strsep(&rest, ",")) != NULL) {
		if (*(item = util_trim(item)) == '\0')
			continue;
		memset(&p, 0, sizeof(p));
		work = xstrdup(item);
		if (parse_price(work, &p) == -1) {
			snprintf(msg, msglen, "expected model=input/output"
			    "[/cache_read/cache_write], prices per million "
			    "tokens such as 3 or 0.30 (at most 6 decimals)");
			*bad = xstrdup(item);
			free(work);
			goto out;
		}
		free(work);
		if (budget_price(&n, p.model) != NULL) {
			snprintf(msg, msglen, "expected each model once, got "
			    "%s twice", p.model);
			*bad = xstrdup(item);
			free(p.model);
			goto out;
		}
		n.v = xrealloc(n.v, (n.n + 1) * sizeof(*n.v));
		n.v[n.n++] = p;
	}
	budget_free_prices(l);
	*l = n;
	n.v = NULL;
	n.n = 0;
	rc = 0;
out:
	budget_free_prices(&n);
	free(copy);
	return rc;
}

/* a + b, saturating. */
static int64_t
add_sat(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/*
 * tokens * price / 10^6, exactly: tokens = q * 10^6 + r, so the cost is
 * q * price (checked) plus r * price / 10^6, where r * price < 10^18 and
 * four such numerators fit an int64 before the one rounding.
 */
int64_t
budget_cost(const struct price *p, const struct budget_tokens *t)
{
	const int64_t tok[PRICE_FIELDS] = { t->input, t->output, t->cache_read,
	    t->cache_write };
	const int64_t pr[PRICE_FIELDS] = { p->input, p->output, p->cache_read,
	    p->cache_write };
	int64_t whole = 0, rem = 0, q;
	int i;

	for (i = 0; i < PRICE_FIELDS; i++) {
		if (tok[i] <= 0)
			continue;
		if (__builtin_mul_overflow(tok[i] / MTOK, pr[i], &q))
			return INT64_MAX;
		whole = add_sat(whole, q);
		rem += (tok[i] % MTOK) * pr[i];
	}
	return add_sat(whole, rem / MTOK + (rem % MTOK != 0));
}

int64_t
budget_token_total(const struct budget_tokens *t)
{
	return add_sat(add_sat(t->input, t->output),
	    add_sat(t->cache_read, t->cache_write));
}

/* "budget of $LIMIT WHAT reached ($SPENT spent)" when spent >= limit. */
static int
over(int64_t limit, int64_t spent, const char *what, char *err,
    size_t errlen)
{
	char l[32], s[32];

	if (limit <= 0 || spent < limit)
		return 0;
	budget_format_money(limit, l, sizeof(l));
	budget_format_money(spent, s, sizeof(s));
	snprintf(err, errlen, "budget of $%s %s reached ($%s spent)", l, what,
	    s);
	return -1;
}

int
budget_check(const struct config *cfg, const struct budget_spent *s,
    char *err, size_t errlen)
{
	if (cfg->max_tokens > 0 && s->job_tokens >= cfg->max_tokens) {
		snprintf(err, errlen, "budget of %lld tokens per job reached "
		    "(%lld used)", (long long)cfg->max_tokens,
		    (long long)s->job_tokens);
		return -1;
	}
	if (over(cfg->max_cost, s->job_cost, "per job", err, errlen) == -1 ||
	    over(cfg->max_cost_per_repo, s->repo_cost, "per day for this "
	    "repository", err, errlen) == -1 ||
	    over(cfg->max_cost_per_day, s->day_cost, "per day", err,
	    errlen) == -1)
		return -1;
	return 0;
}

int
budget_check_model(const struct config *cfg, const char *model, char *err,
    size_t errlen)
{
	if (cfg->max_cost <= 0 && cfg->max_cost_per_repo <= 0 &&
	    cfg->max_cost_per_day <= 0)
		return 0;
	if (budget_price(&cfg->prices, model) != NULL)
		return 0;
	snprintf(err, errlen, "model %.*s has no price in [llm] prices, and "
	    "a cost budget is set", 128, model != NULL ? model : "(none)");
	return -1;
}
