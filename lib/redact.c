/*
 * Redaction (see redact.h). Each secret becomes a few patterns (the key,
 * its base64 spellings); a text is scanned once, and at each position
 * where a pattern could start, the pattern is matched byte by byte where
 * each byte may be spelled literally or as an escape. The matcher keeps
 * the set of text positions reached after each pattern byte, so the
 * several readings of an ambiguous spelling ("\\" then "u002d", or "\\u"
 * as one escape) are all tried at a cost bounded per position.
 *
 * A match that runs into the end of the text is undecided: a stream
 * keeps the text from there on until it is told, the end of a text
 * redacts it when it is FM_REDACT_MIN bytes long or more.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "digest.h"
#include "redact.h"
#include "util.h"

/* Patterns per secret: the key, base64 and base64url at three alignments. */
#define PATTERNS_PER 7
/* Text positions followed at once for one pattern byte. */
#define STATES_MAX 32
/* Bytes one escape decodes to, at most (UTF-8). */
#define ESC_OUT_MAX 4
/* Readings of one escape: its introducer as it is, or itself escaped. */
#define ALTS_MAX 2
/* Marks tried in order; the first no secret can be made from wins. */
static const char *const marks[] = {FM_REDACT_MARK, "[REDACTED]", "<redacted>", "{redacted}",
				    "(redacted)"};

struct pattern {
	char *s;
	size_t len;
};

static struct {
	pthread_mutex_t lock;
	char *secret[FM_REDACT_SECRETS_MAX];
	size_t nsecret;
	struct pattern pat[FM_REDACT_SECRETS_MAX * PATTERNS_PER];
	size_t npat;
	unsigned char start[256]; /* bytes a match can start with */
	char mark[16];
} set = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* --- the set ------------------------------------------------------------ */

static void wipe(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static int is_intro(unsigned char c)
{
	return c == '%' || c == '\\' || c == '&';
}

static void add_pattern(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < set.npat; i++)
		if (set.pat[i].len == len && !memcmp(set.pat[i].s, s, len))
			return;
	set.pat[set.npat].s = fm_xstrndup(s, len);
	set.pat[set.npat].len = len;
	set.npat++;
}

/*
 * The base64 of key[o..] in whole groups of three bytes: the characters
 * any base64 text that holds the key at that alignment holds too.
 */
static void add_base64(const char *key, size_t len)
{
	size_t o, i;

	for (o = 0; o < 3 && o < len; o++) {
		size_t bytes = (len - o) / 3 * 3, n = bytes / 3 * 4;
		char *b64;

		if (n < FM_REDACT_BASE64_MIN)
			continue;
		b64 = fm_xmalloc(FM_BASE64_SIZE(bytes));
		fm_base64_encode(b64, FM_BASE64_SIZE(bytes), key + o, bytes);
		add_pattern(b64, n);
		for (i = 0; i < n; i++)
			b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
		add_pattern(b64, n);
		explicit_bzero(b64, n);
		free(b64);
	}
}

/*
 * A mark is safe when no pattern holds its first or last byte (a secret
 * that overlapped it would) and none is inside it. Failing every word,
 * a run of one punctuation byte no pattern holds; failing that, nothing.
 */
static int mark_safe(const char *m)
{
	size_t i, n = strlen(m);

	for (i = 0; i < set.npat; i++)
		if (memchr(set.pat[i].s, m[0], set.pat[i].len) ||
		    memchr(set.pat[i].s, m[n - 1], set.pat[i].len) ||
		    (set.pat[i].len <= n && memmem(m, n, set.pat[i].s, set.pat[i].len)))
			return 0;
	return 1;
}

static void choose_mark(void)
{
	static const char punct[] = "*#~^|!?=+@$_-.:;,/";
	size_t i;
	char m[4];

	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		if (mark_safe(marks[i])) {
			snprintf(set.mark, sizeof(set.mark), "%s", marks[i]);
			return;
		}
	}
	for (i = 0; punct[i]; i++) {
		memset(m, punct[i], 3);
		m[3] = '\0';
		if (mark_safe(m)) {
			snprintf(set.mark, sizeof(set.mark), "%s", m);
			return;
		}
	}
	set.mark[0] = '\0';
}

static void rebuild(void)
{
	size_t i;

	for (i = 0; i < set.npat; i++) {
		explicit_bzero(set.pat[i].s, set.pat[i].len);
		free(set.pat[i].s);
	}
	set.npat = 0;
	memset(set.start, 0, sizeof(set.start));
	for (i = 0; i < set.nsecret; i++) {
		add_pattern(set.secret[i], strlen(set.secret[i]));
		add_base64(set.secret[i], strlen(set.secret[i]));
	}
	for (i = 0; i < set.npat; i++)
		set.start[(unsigned char)set.pat[i].s[0]] = 1;
	if (set.npat)
		set.start['%'] = set.start['\\'] = set.start['&'] = 1;
	choose_mark();
}

void fm_secret_add(const char *secret)
{
	size_t i, len = secret ? strlen(secret) : 0;

	if (len < FM_REDACT_MIN)
		return;
	pthread_mutex_lock(&set.lock);
	for (i = 0; i < set.nsecret; i++)
		if (!strcmp(set.secret[i], secret))
			break;
	if (i == set.nsecret) {
		if (set.nsecret == FM_REDACT_SECRETS_MAX) {
			wipe(set.secret[0]);
			memmove(set.secret, set.secret + 1, (set.nsecret - 1) * sizeof(char *));
			set.nsecret--;
		}
		set.secret[set.nsecret++] = fm_xstrdup(secret);
		rebuild();
	}
	pthread_mutex_unlock(&set.lock);
}

void fm_secret_forget(void)
{
	size_t i;

	pthread_mutex_lock(&set.lock);
	for (i = 0; i < set.nsecret; i++)
		wipe(set.secret[i]);
	set.nsecret = 0;
	rebuild();
	pthread_mutex_unlock(&set.lock);
}

int fm_secret_count(void)
{
	int n;

	pthread_mutex_lock(&set.lock);
	n = (int)set.nsecret;
	pthread_mutex_unlock(&set.lock);
	return n;
}

/* --- escapes ------------------------------------------------------------ */

struct alt {
	unsigned char out[ESC_OUT_MAX];
	size_t olen, rawlen;
};

/* n hex digits at s[i..]: the value, -1 when not, -2 when the text ends first. */
static long hex_at(const char *s, size_t len, size_t i, int n)
{
	long v = 0;
	int k;

	for (k = 0; k < n; k++) {
		int h;

		if (i + (size_t)k >= len)
			return -2;
		if ((h = fm_hex_digit((unsigned char)s[i + k])) < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

static size_t utf8(unsigned long c, unsigned char *o)
{
	if (c < 0x80) {
		o[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (unsigned char)(0xc0 | (c >> 6));
		o[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (unsigned char)(0xe0 | (c >> 12));
		o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		o[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	o[0] = (unsigned char)(0xf0 | (c >> 18));
	o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	o[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* Ends an escape that decodes to code point c (or -2: undecided). */
static int emit(long c, size_t end, size_t q, struct alt *a, int *und)
{
	if (c == -2) {
		*und = 1;
		return 0;
	}
	if (c < 0 || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	a->olen = utf8((unsigned long)c, a->out);
	a->rawlen = end - q;
	return 1;
}

/* \uXXXX, with its low half when it is the high half of a UTF-16 pair. */
static int json_u(const char *s, size_t len, size_t i, size_t q, struct alt *a, int *und)
{
	long hi = hex_at(s, len, i, 4), lo;

	if (hi < 0 || hi < 0xd800 || hi > 0xdbff)
		return emit(hi, i + 4, q, a, und);
	if (i + 4 >= len || (s[i + 4] == '\\' && i + 5 >= len)) {
		*und = 1;
		return 0;
	}
	if (s[i + 4] != '\\' || s[i + 5] != 'u')
		return 0;
	lo = hex_at(s, len, i + 6, 4);
	if (lo == -2 || lo < 0xdc00 || lo > 0xdfff)
		return emit(lo == -2 ? -2 : -1, 0, 0, a, und);
	return emit(0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00), i + 10, q, a, und);
}

static int entity(const char *s, size_t len, size_t i, size_t q, struct alt *a, int *und)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	size_t k, j;
	long v = 0;
	int hex, digits = 0;

	if (i >= len) {
		*und = 1;
		return 0;
	}
	if (s[i] != '#') {
		for (k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
			size_t n = strlen(named[k].name), have = len - i < n ? len - i : n;

			if (memcmp(s + i, named[k].name, have))
				continue;
			if (have < n) {
				*und = 1;
				continue;
			}
			return emit(named[k].c, i + n, q, a, und);
		}
		return 0;
	}
	j = i + 1;
	if (j >= len) {
		*und = 1;
		return 0;
	}
	hex = s[j] == 'x' || s[j] == 'X';
	j += hex;
	/* At most seven digits: &#1114111; is the largest code point. */
	for (; j < len && digits < 8; j++, digits++) {
		int d = hex ? fm_hex_digit((unsigned char)s[j])
			    : (s[j] >= '0' && s[j] <= '9' ? s[j] - '0' : -1);

		if (d < 0)
			break;
		v = v * (hex ? 16 : 10) + d;
	}
	if (j >= len && digits < 8) {
		*und = 1;
		return 0;
	}
	if (!digits || digits > 7 || s[j] != ';')
		return 0;
	return emit(v, j + 1, q, a, und);
}

/* The escape introduced by intro whose body starts at s[i]; it began at q. */
static int body(const char *s, size_t len, unsigned char intro, size_t i, size_t q, struct alt *a,
		int *und)
{
	const char *simple = "/\\\"'ntrbf", *to = "/\\\"'\n\t\r\b\f", *p;

	if (intro == '%')
		return emit(hex_at(s, len, i, 2), i + 2, q, a, und);
	if (intro == '&')
		return entity(s, len, i, q, a, und);
	if (i >= len) {
		*und = 1;
		return 0;
	}
	if (s[i] == 'u')
		return json_u(s, len, i + 1, q, a, und);
	if (s[i] == 'x')
		return emit(hex_at(s, len, i + 1, 2), i + 3, q, a, und);
	if (s[i] && (p = strchr(simple, s[i])))
		return emit((unsigned char)to[p - simple], i + 1, q, a, und);
	return 0;
}

/*
 * The escapes that start at s[q]: with its introducer as it is, and with
 * an introducer that is itself escaped ("%25" then "2D"). Returns how
 * many were read into a; *und when the text ends inside one.
 */
static int escapes(const char *s, size_t len, size_t q, struct alt *a, int *und)
{
	struct alt in;
	int n = 0;

	if (!is_intro((unsigned char)s[q]))
		return 0;
	if (body(s, len, (unsigned char)s[q], q + 1, q, &in, und)) {
		a[n++] = in;
		if (in.olen == 1 && is_intro(in.out[0]) &&
		    body(s, len, in.out[0], q + in.rawlen, q, &a[n], und))
			n++;
	}
	return n;
}

/* --- matching ----------------------------------------------------------- */

struct states {
	size_t pos[STATES_MAX];
	int n;
};

static void put(struct states *st, size_t p)
{
	int i, far = 0;

	for (i = 0; i < st->n; i++) {
		if (st->pos[i] == p)
			return;
		if (st->pos[i] > st->pos[far])
			far = i;
	}
	if (st->n < STATES_MAX) {
		st->pos[st->n++] = p;
		return;
	}
	/*
	 * Only keys made of escape characters get here. The nearest
	 * positions stay: the plain spelling, the shortest, is never lost.
	 */
	if (p < st->pos[far])
		st->pos[far] = p;
}

/*
 * Whether pattern pt is spelled at s[p]: 1 with the end of the longest
 * spelling in *end, 0 when not, -1 when the text ends before it is told
 * (final: the end of the text after FM_REDACT_MIN bytes is a match).
 */
static int spelled(const struct pattern *pt, const char *s, size_t len, size_t p, int final,
		   size_t *end)
{
	struct states ring[ESC_OUT_MAX + 1];
	size_t j, m = pt->len, tail = m < FM_REDACT_MIN ? m : FM_REDACT_MIN;
	int i, k, found = 0;

	for (i = 0; i <= ESC_OUT_MAX; i++)
		ring[i].n = 0;
	put(&ring[0], p);
	*end = 0;
	for (j = 0; j <= m; j++) {
		struct states *cur = &ring[j % (ESC_OUT_MAX + 1)];

		for (i = 0; i < cur->n; i++) {
			size_t q = cur->pos[i];
			struct alt a[ALTS_MAX];
			int und = 0, na;

			if (j == m) {
				found = 1;
				*end = q > *end ? q : *end;
				continue;
			}
			if (q < len && s[q] == pt->s[j])
				put(&ring[(j + 1) % (ESC_OUT_MAX + 1)], q + 1);
			na = q < len ? escapes(s, len, q, a, &und) : 0;
			for (k = 0; k < na; k++)
				if (j + a[k].olen <= m && !memcmp(pt->s + j, a[k].out, a[k].olen))
					put(&ring[(j + a[k].olen) % (ESC_OUT_MAX + 1)],
					    q + a[k].rawlen);
			if (q < len && !und)
				continue;
			/* The text ends here, or inside an escape that starts here. */
			if (!final)
				return -1;
			if (j >= tail) {
				found = 1;
				*end = len;
			}
		}
		cur->n = 0;
	}
	return found;
}

/* Whether s[p] can be the first byte of pt: as it is, escaped, or maybe. */
static int may_start(const struct pattern *pt, unsigned char c, const struct alt *a, int na,
		     int und)
{
	int k;

	if (c == (unsigned char)pt->s[0] || und)
		return 1;
	for (k = 0; k < na; k++)
		if (a[k].out[0] == (unsigned char)pt->s[0])
			return 1;
	return 0;
}

/* The longest pattern spelled at s[p], as spelled() answers. */
static int longest(const char *s, size_t len, size_t p, int final, size_t *end)
{
	struct alt a[ALTS_MAX];
	size_t i, e;
	int found = 0, r, und = 0, na = escapes(s, len, p, a, &und);

	*end = 0;
	for (i = 0; i < set.npat; i++) {
		if (!may_start(&set.pat[i], (unsigned char)s[p], a, na, und))
			continue;
		r = spelled(&set.pat[i], s, len, p, final, &e);
		if (r < 0)
			return -1;
		if (r > 0) {
			found = 1;
			*end = e > *end ? e : *end;
		}
	}
	return found;
}

/*
 * Redacts s[0..len) into out as far as it is told (all of it when
 * final) and returns how far that is. Overlapping spellings become one
 * mark. The caller holds the lock.
 */
static size_t redact_into(const char *s, size_t len, int final, struct fm_buf *out)
{
	size_t p, e, k = len, from = 0, a = 0, b = 0;
	int open = 0, r;

	fm_buf_add(out, "", 0);
	for (p = 0; p < len; p++) {
		if (!set.start[(unsigned char)s[p]])
			continue;
		if ((r = longest(s, len, p, final, &e)) < 0) {
			k = p;
			break;
		}
		if (!r)
			continue;
		if (open && p < b) {
			b = e > b ? e : b;
			continue;
		}
		if (open) {
			fm_buf_add(out, s + from, a - from);
			fm_buf_add(out, set.mark, strlen(set.mark));
			from = b;
		}
		open = 1;
		a = p;
		b = e;
	}
	/* A spelling that runs past the point told waits with it. */
	if (open && b > k)
		k = a;
	else if (open) {
		fm_buf_add(out, s + from, a - from);
		fm_buf_add(out, set.mark, strlen(set.mark));
		from = b;
	}
	fm_buf_add(out, s + from, k - from);
	return k;
}

/* --- the calls ---------------------------------------------------------- */

char *fm_redact(const char *s, size_t len, size_t *outlen)
{
	struct fm_buf out = FM_BUF_INIT;

	pthread_mutex_lock(&set.lock);
	if (set.npat)
		redact_into(s, len, 1, &out);
	else
		fm_buf_add(&out, s, len);
	pthread_mutex_unlock(&set.lock);
	if (outlen)
		*outlen = out.len;
	return out.s;
}

/* The longest prefix of s[0..n) of at most max bytes that ends between characters. */
static size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

char *fm_redact_cut(const char *s, size_t len, size_t max)
{
	size_t n;
	char *r = fm_redact(s, len, &n);

	r[utf8_cut(r, n, max)] = '\0';
	return r;
}

void fm_redact_buf(char *buf, size_t size)
{
	size_t n;
	char *r;

	if (!buf || !size || !fm_secret_count())
		return;
	r = fm_redact(buf, strlen(buf), &n);
	n = utf8_cut(r, n, size - 1);
	memcpy(buf, r, n);
	buf[n] = '\0';
	free(r);
}

static int changed(const char *s, size_t len, char **r, size_t *rlen)
{
	*r = fm_redact(s, len, rlen);
	if (*rlen == len && !memcmp(*r, s, len)) {
		free(*r);
		*r = NULL;
		return 0;
	}
	return 1;
}

static void redact_tree(json_object *o)
{
	size_t i, n, rlen;
	char *r;

	switch (json_object_get_type(o)) {
	case json_type_string:
		if (changed(json_object_get_string(o), (size_t)json_object_get_string_len(o), &r,
			    &rlen)) {
			json_object_set_string_len(o, r, (int)rlen);
			free(r);
		}
		break;
	case json_type_array:
		n = json_object_array_length(o);
		for (i = 0; i < n; i++)
			redact_tree(json_object_array_get_idx(o, i));
		break;
	case json_type_object: {
		json_object *renamed = NULL;

		json_object_object_foreach (o, k, v) {
			redact_tree(v);
			if (changed(k, strlen(k), &r, &rlen)) {
				if (!renamed)
					renamed = json_object_new_array();
				json_object_array_add(renamed, json_object_new_string(k));
				json_object_array_add(renamed, json_object_new_string(r));
				free(r);
			}
		}
		/* Names are changed after the walk: an object is not changed under it. */
		n = renamed ? json_object_array_length(renamed) : 0;
		for (i = 0; i + 1 < n; i += 2) {
			const char *from =
			    json_object_get_string(json_object_array_get_idx(renamed, i));
			json_object *v = json_object_get(json_object_object_get(o, from));

			json_object_object_del(o, from);
			json_object_object_add(
			    o, json_object_get_string(json_object_array_get_idx(renamed, i + 1)),
			    v);
		}
		json_object_put(renamed);
		break;
	}
	default: break;
	}
}

void fm_redact_json(json_object *o)
{
	if (o && fm_secret_count())
		redact_tree(o);
}

int fm_redact_is_text(const char *mime)
{
	static const char *const types[] = {
	    "application/json",		"application/x-ndjson",
	    "application/xml",		"application/yaml",
	    "application/x-yaml",	"application/javascript",
	    "application/x-subrip",	"application/x-www-form-urlencoded",
	    "application/problem+json",
	};
	size_t i, n;

	if (!mime)
		return 0;
	if (!strncasecmp(mime, "text/", 5))
		return 1;
	n = strcspn(mime, "; \t");
	if ((n > 5 && !strncasecmp(mime + n - 5, "+json", 5)) ||
	    (n > 4 && !strncasecmp(mime + n - 4, "+xml", 4)))
		return 1;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == n && !strncasecmp(mime, types[i], n))
			return 1;
	return 0;
}

/* --- streams ------------------------------------------------------------ */

void fm_redact_stream_init(struct fm_redact_stream *st)
{
	memset(st, 0, sizeof(*st));
}

void fm_redact_stream_release(struct fm_redact_stream *st)
{
	if (st->pending.s)
		explicit_bzero(st->pending.s, st->pending.cap);
	fm_buf_release(&st->pending);
	memset(st, 0, sizeof(*st));
}

char *fm_redact_feed(struct fm_redact_stream *st, const char *data, size_t n, size_t *outlen)
{
	struct fm_buf out = FM_BUF_INIT;
	size_t k;

	fm_buf_add(&st->pending, data, n);
	pthread_mutex_lock(&set.lock);
	if (set.npat) {
		k = redact_into(st->pending.s, st->pending.len, 0, &out);
	} else {
		fm_buf_add(&out, st->pending.s, st->pending.len);
		k = st->pending.len;
	}
	pthread_mutex_unlock(&set.lock);
	memmove(st->pending.s, st->pending.s + k, st->pending.len - k);
	st->pending.len -= k;
	st->pending.s[st->pending.len] = '\0';
	*outlen = out.len;
	return out.s;
}

char *fm_redact_finish(struct fm_redact_stream *st, size_t *outlen)
{
	char *r = fm_redact(fm_buf_str(&st->pending), st->pending.len, outlen);

	fm_redact_stream_release(st);
	return r;
}
