# shellcheck shell=sh
# What the shell tests share, sourced first thing by each (not run on its own):
#   . "$(dirname "$0")/testlib.sh"
# make check runs a test as $(srcdir)/tests/NAME.sh, so this file is found beside it in and out
# of tree. It sets -u and provides
#   LETHE, PLUGINS   the binary and the test plugins' directory (LETHE_BIN, LETHE_TEST_PLUGINS,
#                    as make check sets them; else the build tree's, run from its top)
#   scratch NAME [CLEANUP]   a fresh directory $TMP, removed on exit after the shell code CLEANUP
#   passed, failed, ok NAME, not_ok NAME   the tally; not_ok shows $TMP/err and $TMP/out
#   expect STATUS TEXT NAME -- CMD...      see below
#   finish           prints the tally; fails when a check failed
set -u

# shellcheck disable=SC2034 # the scripts use them
LETHE=${LETHE_BIN:-host/lethe} PLUGINS=${LETHE_TEST_PLUGINS:-tests/plugins/.libs}
passed=0
failed=0

# CLEANUP runs first, for what would stop the removal (a read-only directory, a mount).
scratch() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/lethe-$1-XXXXXX") || exit 1 # else $TMP/out would be /out
	scratch_cleanup=${2:-:}
	trap 'eval "$scratch_cleanup"; rm -rf "$TMP"' EXIT
}

ok() { passed=$((passed + 1)); echo "ok: $1"; }
not_ok() { failed=$((failed + 1)); echo "FAILED: $1"; sed 's/^/    /' "$TMP/err" "$TMP/out" 2>/dev/null; }

# expect STATUS TEXT NAME -- CMD...: runs CMD, checks its exit status and that stdout+stderr
# contain TEXT (a fixed string).
expect() {
	status=$1 text=$2 name=$3
	shift 4
	"$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	if [ "$got" -ne "$status" ]; then
		not_ok "$name (exit $got, expected $status)"
	elif ! cat "$TMP/out" "$TMP/err" | grep -qF -- "$text"; then
		not_ok "$name (output lacks '$text')"
	else
		ok "$name"
	fi
}

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
