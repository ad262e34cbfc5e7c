/* Turns a Markdown document into a man(7) page, so that docs/plugin-guide.md and lethe-plugin(7)
 * are one text and cannot drift. It knows the subset the guide uses: # headings (the first is
 * the title), paragraphs, "- " and "1. " list items with indented continuation lines, ``` and
 * indented code blocks, pipe tables (each row becomes a tagged paragraph), `code`, **bold** and
 * [text](target) links (the text is kept). Anything else passes as text.
 *
 *   md2man NAME SECTION DATE SOURCE < page.md > page.SECTION
 *
 * The first heading becomes the NAME line ("NAME - the heading"), the text before the first
 * ## heading the DESCRIPTION. Output text lines stay within 80 bytes (mandoc's style). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_BYTES 4096
#define TEXT_MAX (64 * 1024)
#define CELLS_MAX 8
#define WRAP 80

static const char *input_name = "<stdin>";
static unsigned line_no;

static void die(const char *what)
{
	fprintf(stderr, "md2man: %s:%u: %s\n", input_name, line_no, what);
	exit(1);
}

/* A growing string: the roff of the block being built. */
struct text {
	char buf[TEXT_MAX];
	size_t len;
};

static void put(struct text *t, const char *s, size_t n)
{
	if (t->len + n >= sizeof(t->buf))
		die("a block is too long");
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void puts_text(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

/* One source character at s as roff, for text and code alike; returns the bytes consumed. */
static size_t put_char(struct text *t, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	char esc[16];
	if (*u == '\\')
		puts_text(t, "\\e");
	else if (*u == '-')
		puts_text(t, "\\-");
	else if (*u == '\t')
		puts_text(t, "    ");
	else if (*u < 0x80)
		put(t, s, 1);
	else {
		/* UTF-8 to \[uXXXX]: groff reads its input as Latin-1 without preconv. */
		unsigned cp, len = *u >= 0xf0 ? 4 : *u >= 0xe0 ? 3 : 2;
		cp = *u & (0x3f >> (len - 1));
		for (unsigned i = 1; i < len; i++) {
			if ((u[i] & 0xc0) != 0x80)
				die("not UTF-8");
			cp = cp << 6 | (u[i] & 0x3f);
		}
		snprintf(esc, sizeof(esc), "\\[u%04X]", cp);
		puts_text(t, esc);
		return len;
	}
	return 1;
}

/* Inline Markdown as roff: `code` and **bold** in bold, [text](target) as its text. */
static void put_inline(struct text *t, const char *s, size_t n)
{
	int bold = 0;
	for (size_t i = 0; i < n;) {
		if (s[i] == '`') {
			const char *end = memchr(s + i + 1, '`', n - i - 1);
			if (!end)
				die("a ` without its closing one");
			if (!bold)
				puts_text(t, "\\fB");
			for (const char *c = s + i + 1; c < end;)
				c += put_char(t, c);
			if (!bold)
				puts_text(t, "\\fR");
			i = (size_t)(end - s) + 1;
		} else if (s[i] == '*' && i + 1 < n && s[i + 1] == '*') {
			bold = !bold;
			puts_text(t, bold ? "\\fB" : "\\fR");
			i += 2;
		} else if (s[i] == '[') {
			const char *close = memchr(s + i, ']', n - i);
			if (close && (size_t)(close - s) + 1 < n && close[1] == '(' &&
			    memchr(close, ')', n - (size_t)(close - s))) {
				put_inline(t, s + i + 1, (size_t)(close - s) - i - 1);
				i = (size_t)((const char *)memchr(close, ')',
								 n - (size_t)(close - s)) - s) + 1;
			} else {
				i += put_char(t, s + i);
			}
		} else {
			i += put_char(t, s + i);
		}
	}
	if (bold)
		die("a ** without its closing one");
}

/* Writes roff text filled into lines of at most WRAP bytes, broken at spaces. */
static void emit_filled(const struct text *t)
{
	const char *s = t->buf;
	while (*s == ' ')
		s++;
	while (*s) {
		size_t len = strlen(s), cut = len;
		if (len > WRAP) {
			cut = 0;
			for (size_t i = 1; i <= WRAP; i++)
				if (s[i] == ' ')
					cut = i;
			if (cut == 0) /* a word longer than a line: it stays whole */
				cut = strcspn(s, " ");
		}
		if (*s == '.' || *s == '\'')
			fputs("\\&", stdout);
		fwrite(s, 1, cut, stdout);
		fputc('\n', stdout);
		s += cut;
		while (*s == ' ')
			s++;
	}
}

static size_t indent_of(const char *line)
{
	size_t n = 0;
	while (line[n] == ' ')
		n++;
	return n;
}

static int is_blank(const char *line)
{
	return line[indent_of(line)] == '\0';
}

/* The length of a list item's marker ("- ", "12. "), or 0. */
static size_t item_marker(const char *line)
{
	if (line[0] == '-' && line[1] == ' ')
		return 2;
	size_t n = 0;
	while (isdigit((unsigned char)line[n]))
		n++;
	return n > 0 && line[n] == '.' && line[n + 1] == ' ' ? n + 2 : 0;
}

/* Splits a table row into cells (| outside `code`); returns their count. */
static size_t table_cells(char *row, char **cells)
{
	size_t n = 0;
	int code = 0;
	char *start = row + 1;
	for (char *c = row + 1; *c; c++) {
		if (*c == '`')
			code = !code;
		if (*c != '|' || code)
			continue;
		*c = '\0';
		if (n == CELLS_MAX)
			die("a table row of too many cells");
		while (*start == ' ')
			start++;
		for (char *e = c; e > start && e[-1] == ' ';)
			*--e = '\0';
		cells[n++] = start;
		start = c + 1;
	}
	return n;
}

/* Reads a line without its newline; 0 at the end. */
static int read_line(char *line)
{
	if (!fgets(line, LINE_MAX_BYTES, stdin))
		return 0;
	line_no++;
	size_t n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[--n] = '\0';
	else if (n == LINE_MAX_BYTES - 1)
		die("a line too long");
	return 1;
}

struct state {
	char line[LINE_MAX_BYTES];
	int have;	   /* line holds a line not handled yet */
	int after_heading; /* the last thing written was .SH or .SS: no .PP needed */
	int in_item;	   /* text continues a list item */
};

static int next(struct state *st)
{
	if (st->have)
		return 1;
	st->have = read_line(st->line);
	return st->have;
}

static void emit_code_line(const char *s)
{
	struct text t = { .len = 0 };
	t.buf[0] = '\0';
	for (const char *c = s; *c;)
		c += put_char(&t, c);
	if (t.buf[0] == '.' || t.buf[0] == '\'')
		fputs("\\&", stdout);
	puts(t.buf);
}

static void code_start(const struct state *st)
{
	puts(st->after_heading ? ".RS 4\n.nf" : ".PP\n.RS 4\n.nf");
}

static void code_end(void)
{
	puts(".fi\n.RE");
}

static void fenced_code(struct state *st)
{
	code_start(st);
	for (;;) {
		if (!read_line(st->line))
			die("a ``` block is not closed");
		if (!strncmp(st->line, "```", 3))
			break;
		emit_code_line(st->line);
	}
	code_end();
}

/* Lines indented by 4 or more, blank lines between them included. */
static void indented_code(struct state *st)
{
	code_start(st);
	unsigned blanks = 0;
	while (next(st) && (is_blank(st->line) || indent_of(st->line) >= 4)) {
		st->have = 0;
		if (is_blank(st->line)) {
			blanks++;
			continue;
		}
		for (; blanks > 0; blanks--)
			puts("");
		emit_code_line(st->line + 4);
	}
	code_end();
}

static void table(struct state *st)
{
	char header[LINE_MAX_BYTES], *heads[CELLS_MAX], *cells[CELLS_MAX];
	snprintf(header, sizeof(header), "%s", st->line);
	size_t columns = table_cells(header, heads);
	st->have = 0;
	if (!next(st) || strspn(st->line, "|-: ") != strlen(st->line))
		die("a table without its |---| line");
	st->have = 0;
	while (next(st) && st->line[0] == '|') {
		st->have = 0;
		size_t n = table_cells(st->line, cells);
		if (n != columns)
			die("a table row of another number of cells than its header");
		struct text t = { .len = 0 };
		puts(".TP");
		put_inline(&t, cells[0], strlen(cells[0]));
		emit_filled(&t);
		for (size_t j = 1; j < n; j++) {
			if (!*cells[j])
				continue;
			t.len = 0;
			t.buf[0] = '\0';
			if (columns > 2) {
				puts_text(&t, "\\fI");
				put_inline(&t, heads[j], strlen(heads[j]));
				puts_text(&t, ":\\fR ");
			}
			put_inline(&t, cells[j], strlen(cells[j]));
			emit_filled(&t);
			if (j + 1 < n)
				puts(".br");
		}
	}
	st->after_heading = 0;
}

static void heading(struct state *st, size_t level, int *sections)
{
	const char *s = st->line + level;
	while (*s == ' ')
		s++;
	struct text t = { .len = 0 };
	t.buf[0] = '\0';
	while (*s) {
		char upper = (char)toupper((unsigned char)*s);
		if (*s == '`')
			s++;
		else if (level == 2 && (unsigned char)*s < 0x80 && put_char(&t, &upper))
			s++;
		else
			s += put_char(&t, s);
	}
	printf("%s \"%s\"\n", level == 2 ? ".SH" : ".SS", t.buf);
	*sections += level == 2;
	st->after_heading = 1;
	st->in_item = 0;
	st->have = 0;
}

static int is_heading(const char *line)
{
	size_t level = strspn(line, "#");
	return level > 0 && line[level] == ' ';
}

/* A paragraph, or a list item, and the lines that continue it: inline markup may span them. */
static void paragraph(struct state *st)
{
	static char raw[TEXT_MAX];
	size_t marker = item_marker(st->line), len;
	if (marker) {
		if (st->line[0] == '-')
			puts(".IP \\(bu 2");
		else
			printf(".IP %.*s 4\n", (int)(marker - 1), st->line);
		st->in_item = 1;
	} else if (!st->after_heading && !st->in_item) {
		puts(".PP");
	}
	len = (size_t)snprintf(raw, sizeof(raw), "%s", st->line + marker);
	st->have = 0;
	while (next(st) && !is_blank(st->line) && !item_marker(st->line) &&
	       !is_heading(st->line) && st->line[0] != '|' && strncmp(st->line, "```", 3)) {
		len += (size_t)snprintf(raw + len, sizeof(raw) - len, " %s",
					st->line + indent_of(st->line));
		if (len >= sizeof(raw))
			die("a paragraph is too long");
		st->have = 0;
	}
	struct text t = { .len = 0 };
	put_inline(&t, raw, len);
	emit_filled(&t);
	st->after_heading = 0;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fputs("usage: md2man NAME SECTION DATE SOURCE < page.md > page.SECTION\n", stderr);
		return 2;
	}
	struct state st = { .have = 0 };
	while (next(&st) && is_blank(st.line))
		st.have = 0;
	if (!st.have || strncmp(st.line, "# ", 2))
		die("the page does not start with its # title");
	struct text name = { .len = 0 }, title = { .len = 0 };
	for (const char *c = argv[1]; *c;)
		c += put_char(&name, c);
	/* The title, lower-cased at its first letter, is what the page is about. */
	st.line[2] = (char)tolower((unsigned char)st.line[2]);
	put_inline(&title, st.line + 2, strlen(st.line + 2));
	st.have = 0;
	puts(".\\\" Made by man/md2man from Markdown: edit the Markdown, not this.");
	struct text upper = { .len = 0 };
	for (const char *c = argv[1]; *c; c++) {
		char u = (char)toupper((unsigned char)*c);
		put_char(&upper, &u);
	}
	printf(".TH %s %s %s \"%s\" \"%s\"\n", upper.buf, argv[2], argv[3], argv[4],
	       "Miscellaneous Information Manual");
	printf(".SH NAME\n%s \\- %s\n.SH DESCRIPTION\n", name.buf, title.buf);
	st.after_heading = 1;
	int sections = 0;
	while (next(&st)) {
		if (is_blank(st.line)) {
			st.have = 0;
			st.in_item = 0;
		} else if (!strncmp(st.line, "```", 3)) {
			st.have = 0;
			fenced_code(&st);
			st.in_item = st.after_heading = 0;
		} else if (indent_of(st.line) >= 4 && !st.in_item) {
			indented_code(&st);
			st.after_heading = 0;
		} else if (is_heading(st.line)) {
			size_t level = strspn(st.line, "#");
			if (level == 1)
				die("a second # title");
			heading(&st, level, &sections);
		} else if (st.line[0] == '|') {
			table(&st);
		} else {
			paragraph(&st);
		}
	}
	if (sections == 0)
		die("no ## section");
	return ferror(stdout) ? 1 : 0;
}
