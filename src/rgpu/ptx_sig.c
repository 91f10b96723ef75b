/* SPDX-License-Identifier: MIT */
/* A tokenizer just good enough to read PTX .entry signatures. */
#include "rgpu/ptx_sig.h"

#include <stdbool.h>
#include <string.h>

struct lex {
	const char *p;
};

static bool ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '$' || c == '.' ||
	       c == '%';
}

/* Skip blanks and both kinds of comments. */
static void skip_space(struct lex *l)
{
	for (;;) {
		const char *p = l->p;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (p[0] == '/' && p[1] == '/') {
			while (*p && *p != '\n')
				p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *end = strstr(p + 2, "*/");

			p = end ? end + 2 : p + strlen(p);
		} else {
			l->p = p;
			return;
		}
		l->p = p;
	}
}

/* The next token: an identifier or directive, or one other character.
 * Returns its length (0 at the end of the text). */
static size_t next_tok(struct lex *l, const char **tok)
{
	size_t n = 0;

	skip_space(l);
	*tok = l->p;
	if (!*l->p)
		return 0;
	while (ident_char(l->p[n]))
		n++;
	if (n == 0)
		n = 1;
	l->p += n;
	return n;
}

static bool tok_is(const char *t, size_t n, const char *s)
{
	return strlen(s) == n && memcmp(t, s, n) == 0;
}

static int type_size(const char *t, size_t n)
{
	static const struct {
		const char *name;
		int size;
	} types[] = {
		{ ".u8", 1 },  { ".s8", 1 },  { ".b8", 1 },  { ".u16", 2 },
		{ ".s16", 2 }, { ".b16", 2 }, { ".f16", 2 }, { ".u32", 4 },
		{ ".s32", 4 }, { ".b32", 4 }, { ".f32", 4 }, { ".u64", 8 },
		{ ".s64", 8 }, { ".b64", 8 }, { ".f64", 8 },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (tok_is(t, n, types[i].name))
			return types[i].size;
	return -1;
}

/* One ".param .TYPE [.ptr .space .align N] name" up to ',' or ')'.
 * Aggregates (".param .align 8 .b8 name[16]") are not supported. */
static int read_param(struct lex *l, struct ptx_entry *e)
{
	const char *t;
	size_t n = next_tok(l, &t);
	int size;

	if (!tok_is(t, n, ".param"))
		return -1;
	n = next_tok(l, &t);
	size = type_size(t, n);
	if (size < 0 || e->nparams >= RGPU_MAX_ARGS)
		return -1;
	e->size[e->nparams++] = (uint8_t)size;
	for (;;) {
		n = next_tok(l, &t);
		if (n == 0 || *t == '[')
			return -1;
		if (*t == ',' || *t == ')')
			return *t;
	}
}

static int read_entry(struct lex *l, struct ptx_entry *e)
{
	const char *t;
	size_t n = next_tok(l, &t);
	int end;

	if (n == 0 || n > RGPU_MAX_NAME || !ident_char(*t) || *t == '.')
		return -1;
	memcpy(e->name, t, n);
	e->name[n] = '\0';
	e->nparams = 0;
	n = next_tok(l, &t);
	if (n != 1 || *t != '(')
		return -1;
	skip_space(l);
	if (*l->p == ')') {
		l->p++;
		return 0;
	}
	do
		end = read_param(l, e);
	while (end == ',');
	return end == ')' ? 0 : -1;
}

int ptx_entries(const char *ptx, struct ptx_entry *out, unsigned max)
{
	struct lex l = { .p = ptx };
	unsigned count = 0;
	const char *t;
	size_t n;

	while ((n = next_tok(&l, &t)) != 0) {
		if (!tok_is(t, n, ".entry"))
			continue;
		if (count >= max || read_entry(&l, &out[count]))
			return -RGPU_ERR_INVALID_PTX;
		if (ptx_entry_lookup(out, count, out[count].name))
			return -RGPU_ERR_INVALID_PTX;
		count++;
	}
	return (int)count;
}

const struct ptx_entry *ptx_entry_lookup(const struct ptx_entry *e,
					 unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0)
			return &e[i];
	return NULL;
}
