# shellcheck shell=sh
# bench/lib.sh: what the bench scripts share; sourced (. "$SRC/bench/lib.sh"), not run.

# bench_outdir NAME: OUT kept where the caller set it (created), else a scratch directory
# named after NAME, removed when the script exits.
bench_outdir() {
	if [ -n "${OUT:-}" ]; then
		mkdir -p "$OUT"
	else
		OUT=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
		trap 'rm -rf "$OUT"' EXIT
	fi
}
