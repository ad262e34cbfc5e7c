#!/bin/sh
# The shape of host/, from its #include lines: fails on a cycle among files, among modules or
# among folders, and on curses included outside host/ui/.
#
# A module is a header and the .c files that implement it: core/engine.h, core/engine_impl.h
# (its private part) and every .c whose first include is one of them (engine.c,
# engine_forget.c, ...). A .c file includes its own header first; main.c's first include makes
# it part of cli. Module A depends on B when a file of A includes a header of B; folder X on Y
# when a module of X depends on one of Y. tsort(1) names the members of any cycle.
#
# Usage: tests/include_graph.sh [HOST_DIR] (default: host/ under $LETHE_TEST_SRCDIR or .);
# with -v, it prints the module and folder graphs too.
set -u
verbose=
[ "${1:-}" = -v ] && { verbose=1; shift; }
host=${1:-${LETHE_TEST_SRCDIR:-.}/host}
cd "$host" || exit 1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/lethe-include-graph-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0

# Every file and what it includes: "FILE INCLUDED", one line each (host headers only).
find . -name '*.[ch]' | sed 's|^\./||' | sort >"$tmp/files"
while read -r f; do
	sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
		while read -r inc; do
			[ -f "$inc" ] && echo "$f $inc"
		done
done <"$tmp/files" >"$tmp/edges"

# The module of each file: a header's is its name less .h and _impl; a .c file's is that of
# its first host include, else its own name.
module_of_header() { echo "${1%.h}" | sed 's/_impl$//'; }
while read -r f; do
	case $f in
	*.h) m=$(module_of_header "$f") ;;
	*.c) first=$(awk -v f="$f" '$1 == f { print $2; exit }' "$tmp/edges")
	     if [ -n "$first" ]; then m=$(module_of_header "$first"); else m=${f%.c}; fi ;;
	esac
	echo "$f $m"
done <"$tmp/files" >"$tmp/modules"

awk 'NR == FNR { mod[$1] = $2; next } mod[$1] != mod[$2] { print mod[$1], mod[$2] }' \
	"$tmp/modules" "$tmp/edges" | sort -u >"$tmp/module_edges"
awk '{ a = $1; b = $2; sub(/\/.*/, "", a); sub(/\/.*/, "", b); if (a != b) print a, b }' \
	"$tmp/module_edges" | sort -u >"$tmp/folder_edges"

# tsort: any loop it finds is a cycle; it names each member on a line.
cycles() {
	what=$1 edges=$2
	if ! tsort "$edges" >/dev/null 2>"$tmp/loops"; then
		echo "include_graph: a cycle among $what:"
		sed -n 's/^tsort: \([^-].*\)/  \1/p' "$tmp/loops" | grep -v 'input contains a loop'
		status=1
	fi
}
cycles files "$tmp/edges"
cycles modules "$tmp/module_edges"
cycles folders "$tmp/folder_edges"

# Only the dashboard draws: curses stays in ui/.
inc='^[[:space:]]*#[[:space:]]*include[[:space:]]*'
curses="$inc<(ncursesw?/)?(n?curses|term|panel|menu|form)\\.h>"
# shellcheck disable=SC2046
grep -lE "$curses" $(cat "$tmp/files") | grep -v '^ui/' |
	sed 's/^/include_graph: curses outside ui\/: /' | grep . && status=1

if [ -n "$verbose" ]; then
	echo "modules (A needs B):"
	sed 's/^/  /' "$tmp/module_edges"
	echo "folders (X needs Y):"
	sed 's/^/  /' "$tmp/folder_edges"
fi
exit $status
