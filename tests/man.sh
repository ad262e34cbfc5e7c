#!/bin/sh
# The manual pages as built: each renders without a warning from groff (and mandoc's linter when
# installed), lethe-scenario(5) documents every key of every built-in section under that
# section, its example scenario passes lethe check, lethe(1) covers every command and option of
# lethe --help, and lethe-plugin(7) holds every section of docs/plugin-guide.md. Run from the
# build directory, as make check does.
set -u
export LC_ALL=C # sort and comm must agree on the order

LETHE=${LETHE_BIN:-host/lethe}
PLUGINS=${LETHE_BUILD_PLUGINS:-plugins}
GEN=man/gen_scenario_man
SRCDIR=${LETHE_TEST_SRCDIR:-.}
PAGES="man/lethe.1 man/lethe-scenario.5 man/lethe-plugin.7"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-man-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok: $1"; }
not_ok() { failed=$((failed + 1)); echo "FAILED: $1"; sed 's/^/    /' "$TMP/out" 2>/dev/null; }

if ! command -v groff >/dev/null 2>&1; then
	echo "SKIP: groff not found (apt-get install groff-base)"
	exit 77
fi

for page in $PAGES; do
	if [ ! -s "$page" ]; then
		: >"$TMP/out"
		not_ok "$page was not built"
		continue
	fi
	# -ww: every warning; -z: no output, only the diagnostics.
	if groff -ww -man -Tutf8 -z "$page" >"$TMP/out" 2>&1 && [ ! -s "$TMP/out" ]; then
		ok "groff renders $page without a warning"
	else
		not_ok "groff warns about $page"
	fi
	if command -v mandoc >/dev/null 2>&1; then
		if mandoc -T lint "$page" >"$TMP/out" 2>&1 && [ ! -s "$TMP/out" ]; then
			ok "mandoc -T lint passes $page"
		else
			not_ok "mandoc -T lint complains about $page"
		fi
	fi
done
command -v mandoc >/dev/null 2>&1 || echo "note: mandoc not found, its lint skipped"

# The guide's headings, ## as .SH (upper-cased) and ### and #### as .SS, in its order.
awk '/^```/ { code = !code } !code && /^##+ / {
	level = index($0, " ") - 1; text = substr($0, level + 2); gsub(/`/, "", text)
	print (level == 2 ? ".SH \"" toupper(text) : ".SS \"" text) "\""
}' "$SRCDIR/docs/plugin-guide.md" >"$TMP/headings"
grep -E '^\.S[HS] ' man/lethe-plugin.7 | sed 's/\\-/-/g' |
	grep -vxE '\.SH (NAME|DESCRIPTION)' >"$TMP/page"
if [ -s "$TMP/headings" ] && diff "$TMP/headings" "$TMP/page" >"$TMP/out"; then
	ok "lethe-plugin.7 holds all $(wc -l <"$TMP/headings") sections of docs/plugin-guide.md"
else
	not_ok "lethe-plugin.7 and docs/plugin-guide.md differ in their sections"
fi

if grep -n '@[A-Z_]*@' man/lethe.1 >"$TMP/out"; then
	not_ok "lethe.1 keeps a placeholder"
else
	ok "lethe.1 has every placeholder filled in"
fi

# Every declared key, and no other, as a .TP entry of its own section: the tag line of a key
# is .BR "key" " (type...", right after .TP, under .SS "[section]".
"$GEN" --keys | sort >"$TMP/declared"
awk '
	/^\.SS "\[/ { sec = $0; sub(/^\.SS "\[/, "", sec); sub(/\]".*/, "", sec) }
	tp && /^\.BR "/ {
		key = $0; sub(/^\.BR "/, "", key); sub(/".*/, "", key); gsub(/\\-/, "-", key)
		print sec "." key
	}
	{ tp = ($0 == ".TP") }
' man/lethe-scenario.5 | sort >"$TMP/documented"
comm -23 "$TMP/declared" "$TMP/documented" >"$TMP/out"
if [ -s "$TMP/declared" ] && [ ! -s "$TMP/out" ]; then
	ok "lethe-scenario.5 documents all $(wc -l <"$TMP/declared") built-in keys"
else
	not_ok "keys missing from lethe-scenario.5"
fi
comm -13 "$TMP/declared" "$TMP/documented" >"$TMP/out"
if [ ! -s "$TMP/out" ]; then
	ok "lethe-scenario.5 documents no undeclared key"
else
	not_ok "lethe-scenario.5 documents keys the tables do not declare"
fi

if [ -x "$LETHE" ]; then
	"$GEN" --example >"$TMP/example.ini"
	if "$LETHE" check "$TMP/example.ini" --plugin-path "$PLUGINS" >"$TMP/out" 2>&1; then
		ok "the example of lethe-scenario.5 passes lethe check"
	else
		not_ok "the example of lethe-scenario.5 fails lethe check"
	fi

	"$LETHE" --help >"$TMP/help" 2>&1
	: >"$TMP/out"
	for opt in $(grep -o -- '--[a-z][a-z-]*' "$TMP/help" | sort -u); do
		esc=$(printf '%s\n' "$opt" | sed 's/-/\\-/g')
		grep -qF -- "$esc" man/lethe.1 || echo "option $opt" >>"$TMP/out"
	done
	for cmd in $(awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' \
		"$TMP/help"); do
		grep -qE "^\.BI? $cmd( |\$)" man/lethe.1 || echo "command $cmd" >>"$TMP/out"
	done
	if [ -s "$TMP/help" ] && [ ! -s "$TMP/out" ]; then
		ok "lethe.1 covers every command and option of lethe --help"
	else
		not_ok "lethe.1 lacks what lethe --help lists"
	fi
else
	echo "note: $LETHE not built, the checks against it skipped"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
