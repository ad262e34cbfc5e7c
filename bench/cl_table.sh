#!/bin/sh
# Makes docs/results.md: every continual-learning strategy lethe ships, under each protocol, on
# Fashion-MNIST, over several seeds (mean ± std of ACC, BWT, forgetting, wall time, peak RSS).
#
#   bench/cl_table.sh [OUTDIR]        (from a built tree; env: LETHE, SEEDS, JOBS, DOC, BASELINES)
#
# ONLY=cnn runs the convolutional network's configurations alone and remakes only that section
# of DOC, leaving the MLP's and OVOR's tables as they are. ROWS="LABEL..." runs the MLP
# configurations of those labels alone (e.g. ROWS=bic after a fix to BiC) and replaces only their
# rows, under each protocol, naming them and the date below the page's opening paragraph.
# Runs are independent single-threaded processes, JOBS at a time; wall times are per run.
set -eu
LETHE=${LETHE:-host/lethe}
SRC=$(cd "$(dirname "$0")/.." && pwd)

# --one DIR SCENARIO SEED SETS...: one run (what xargs calls); a finished run is kept, an
# interrupted one resumed from its checkpoint.
if [ "${1:-}" = --one ]; then
	dir=$2 scen=$3 seed=$4
	shift 4
	grep -qs '"complete": true' "$dir/metrics.json" && exit 0
	args=
	for s in "$@"; do args="$args --set $s"; done
	# shellcheck disable=SC2086
	"$LETHE" run "$SRC/scenarios/$scen.ini" --out "$dir" --resume --quiet \
		--set train.seed="$seed" $args || echo "cl_table: $scen seed $seed failed" >&2
	exit 0
fi

OUT=${1:-cl-table-runs}
SEEDS=${SEEDS:-1 2 3}
# The baselines' plugins, each tabulated where its scenario exists.
BASELINES=${BASELINES:-si mas lwf gem agem er_ace der derpp icarl gdumb bic}
JOBS=${JOBS:-2}
DOC=${DOC:-$SRC/docs/results.md}
mkdir -p "$OUT"

# ewc.lambda=(the scenario's lambda x FACTOR), for the scenario in $base$suffix.
scale() {
	l=$(sed -n 's/^lambda = //p' "$SRC/scenarios/$base-ewc$suffix.ini")
	echo "ewc.lambda=$(awk -v l="$l" -v f="$1" 'BEGIN { print l * f }')"
}

# protocol|label|scenario|--set overrides (space-separated section.key=value)
configs() {
	for p in split-fashion:class-incremental split-fashion-til:task-incremental \
		permuted-fashion:domain-incremental; do
		base=${p%%:*} proto=${p#*:}
		suffix=
		case $base in *-til) base=${base%-til} suffix=-til ;; esac
		echo "$proto|naive|$base-naive$suffix|"
		echo "$proto|joint|$base-joint$suffix|"
		# lambda per Fisher variant: the scenario's for exact and sampled; the empirical
		# Fisher runs larger, the batched one about 1/batch smaller (METHODS.md).
		echo "$proto|EWC (exact Fisher)|$base-ewc$suffix|ewc.fisher=exact"
		echo "$proto|EWC (sampled Fisher)|$base-ewc$suffix|ewc.fisher=sampled"
		echo "$proto|EWC (empirical Fisher, λ × 0.6)|$base-ewc$suffix|ewc.fisher=empirical $(scale 0.6)"
		echo "$proto|EWC (batched Fisher, λ × 16)|$base-ewc$suffix|ewc.fisher=batched $(scale 16)"
		echo "$proto|online EWC (γ = 0.9)|$base-ewc$suffix|ewc.mode=online ewc.gamma=0.9"
		echo "$proto|L2|$base-l2$suffix|"
		for s in power-law uniform exponential reservoir; do
			echo "$proto|rehearsal ($s)|$base-rehearsal$suffix|rehearsal.schedule=$s"
		done
		for b in $BASELINES; do
			[ -f "$SRC/scenarios/$base-$b$suffix.ini" ] && echo "$proto|$b|$base-$b$suffix|"
		done
		[ -f "$SRC/scenarios/$base-icarl$suffix.ini" ] &&
			echo "$proto|icarl (softmax head)|$base-icarl$suffix|icarl.nme=false"
	done
}

# The convolutional network (architecture = cnn): its class-incremental scenarios, the
# baselines' MLP scenarios with the architecture swapped, and task-incremental naive through
# the protocol's key.
cnn_configs() {
	for s in naive joint ewc l2 rehearsal; do
		echo "CNN, class-incremental|$s|split-fashion-cnn-$s|"
	done
	for b in $BASELINES; do
		echo "CNN, class-incremental|$b|split-fashion-$b|model.architecture=cnn"
	done
	echo "CNN, task-incremental|naive|split-fashion-cnn-naive|scenario.protocol=task-incremental"
}

# OVOR's comparison: class-incremental at the 5 epochs per task its scenarios use.
ovor_configs() {
	echo "class-incremental|naive|split-fashion-naive|train.epochs=5"
	echo "class-incremental|OVOR|split-fashion-ovor|"
	echo "class-incremental|L2|split-fashion-l2|train.epochs=5"
	echo "class-incremental|L2 + OVOR|split-fashion-l2-ovor|"
}

# The same comparison on the convolutional network.
cnn_ovor_configs() {
	echo "class-incremental|naive|split-fashion-cnn-naive|train.epochs=5"
	echo "class-incremental|OVOR|split-fashion-cnn-ovor|"
}

# The MLP configurations whose label is one of ROWS.
rows_configs() {
	configs | while IFS='|' read -r proto label rest; do
		for r in $ROWS; do [ "$label" = "$r" ] && echo "$proto|$label|$rest"; done
	done
}

# One line per run: "DIR SCENARIO SEED SETS..." for xargs.
jobs_list() {
	if [ "${ONLY:-}" = cnn ]; then
		cnn_configs
		cnn_ovor_configs
	elif [ -n "${ROWS:-}" ]; then
		rows_configs
	else
		{ cnn_configs | sort -s -t"|" -k1,1r; cnn_ovor_configs; configs; ovor_configs; }
	fi | while IFS='|' read -r proto label scen sets; do
		tag=$(printf '%s' "$scen-$sets" | tr -c 'A-Za-z0-9.-' '_')
		for seed in $SEEDS; do
			# No trailing blank: xargs -L would join the next line to this one.
			echo "$OUT/$tag-s$seed $scen $seed $sets" | sed 's/ *$//'
		done
	done
}

export LETHE SRC
jobs_list | xargs -P "$JOBS" -L 1 "$0" --one

# mean ± std of one figure over the seeds of a configuration.
figure() { # KEY DIRS...
	key=$1
	shift
	for d in "$@"; do
		sed -n "s/^ *\"$key\": \([-0-9.eE+]*\),*$/\1/p" "$d/metrics.json" | head -n 1
	done | awk -v k="$key" '
		{ x[NR] = $1; s += $1 }
		END {
			if (NR == 0) { printf "n/a"; exit }
			m = s / NR; v = 0
			for (i = 1; i <= NR; i++) v += (x[i] - m) ^ 2
			sd = NR > 1 ? sqrt(v / (NR - 1)) : 0
			if (k == "peak_rss_bytes") printf "%.0f ± %.0f", m / 1048576, sd / 1048576
			else if (k == "total") printf "%.1f ± %.1f", m, sd
			else printf "%.3f ± %.3f", m, sd
		}'
}

# dirs_of SCENARIO SETS: the run directories of a configuration, one per seed.
dirs_of() {
	tag=$(printf '%s' "$1-$2" | tr -c 'A-Za-z0-9.-' '_')
	for seed in $SEEDS; do printf ' %s' "$OUT/$tag-s$seed"; done
}

# tables LEVEL: the configurations on stdin as tables of ACC, BWT, forgetting, time and memory,
# one per protocol under a heading of LEVEL.
tables() {
	last=
	while IFS='|' read -r proto label scen sets; do
		if [ "$proto" != "$last" ]; then
			echo
			echo "$1 $proto"
			echo
			echo "| strategy | ACC | BWT | forgetting | wall time (s) | peak RSS (MiB) |"
			echo "|---|---|---|---|---|---|"
			last=$proto
		fi
		dirs=$(dirs_of "$scen" "$sets")
		# shellcheck disable=SC2086
		echo "| $label | $(figure average_accuracy $dirs) | $(figure bwt $dirs) |" \
			"$(figure forgetting $dirs) | $(figure total $dirs) | $(figure peak_rss_bytes $dirs) |"
	done
}

# ovor_table: the configurations on stdin as one table of ACC, inter-task confusion, BWT, time.
ovor_table() {
	echo "| strategy | ACC | inter-task confusion | BWT | wall time (s) |"
	echo "|---|---|---|---|---|"
	while IFS='|' read -r proto label scen sets; do
		dirs=$(dirs_of "$scen" "$sets")
		# shellcheck disable=SC2086
		echo "| $label | $(figure average_accuracy $dirs) |" \
			"$(figure inter_task_confusion $dirs) | $(figure bwt $dirs) |" \
			"$(figure total $dirs) |"
	done
}

# The convolutional network's section, from its heading to the blank line before OVOR's.
cnn_section() {
	echo
	echo "## The convolutional network"
	echo
	echo "\`architecture = cnn\` (conv 32 k3 p1, relu, maxpool 2, conv 64 k3 p1, relu, maxpool 2, dense"
	echo "256, relu, dense 10; He init), otherwise the MLP's protocol and training: the"
	echo "\`split-fashion-cnn-*.ini\` scenarios (EWC with the sampled Fisher there, see its file),"
	echo "and each baseline's \`split-fashion-<name>.ini\` with \`model.architecture = cnn\` (the"
	echo "MLP's settings, not tuned for the CNN). Task-incremental rows set"
	echo "\`scenario.protocol = task-incremental\`. Seeds: $SEEDS."
	cnn_configs | tables "###"
	# OVOR's comparison once one of its runs exists (ONLY=cnn makes them; they take longest).
	# shellcheck disable=SC2046
	ls $(dirs_of split-fashion-cnn-ovor "" | sed 's|\( \|$\)|/metrics.json |g') \
		>/dev/null 2>&1 || return 0
	echo
	echo "### CNN, OVOR (class-incremental, 5 epochs per task)"
	echo
	echo "\`split-fashion-cnn-ovor.ini\` beside naive at its 5 epochs; the MLP's comparison and the"
	echo "inter-task confusion's definition are under OVOR below."
	echo
	cnn_ovor_configs | ovor_table
}

if [ "${ONLY:-}" = cnn ]; then
	cnn_section >"$OUT/cnn-section.md"
	awk -v f="$OUT/cnn-section.md" '
		/^## The convolutional network/ { skip = 1; while ((getline l < f) > 0) if (n++) print l; next }
		skip && /^## / { skip = 0; print "" }
		!skip { print }' "$DOC" >"$DOC.new"
	mv "$DOC.new" "$DOC"
	echo "wrote the CNN section of $DOC"
	exit 0
fi

if [ -n "${ROWS:-}" ]; then
	rows_configs | tables "##" >"$OUT/rows.md"
	# Each new row replaces the row of its label under its protocol's heading.
	awk -v f="$OUT/rows.md" -v note="Rows remade alone since: $ROWS ($(date -u +%Y-%m-%d); their wall times are that remake's)." '
		BEGIN { while ((getline l < f) > 0) if (l ~ /^## /) h = l; else if (l ~ /^\| /) {
			split(l, c, " \\| "); row[h "|" c[1]] = l }
			h = "" }
		/^Rows remade alone since:/ { next }
		/^$/ && !noted && intro { print note; noted = 1 }
		/^Made by/ { intro = 1 }
		/^## / { h = $0 }
		{ split($0, c, " \\| "); k = h "|" c[1] }
		k in row { print row[k]; next }
		{ print }' "$DOC" >"$DOC.new"
	mv "$DOC.new" "$DOC"
	echo "wrote the rows $ROWS of $DOC"
	exit 0
fi

{
	echo "# Continual-learning results on Fashion-MNIST"
	echo
	echo "Made by \`bench/cl_table.sh\` (rerun it from a built tree to remake this page) on"
	echo "$(date -u +%Y-%m-%d), lethe $("$LETHE" --version | cut -d' ' -f2), $(nproc) cores,"
	echo "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1). Seeds: $SEEDS;"
	echo "each cell is mean ± sample std over them. MLP 784-256-256-10, plain SGD, batch 64,"
	echo "2 epochs per task; each scenario file in \`scenarios/\` gives its settings. Rehearsal"
	echo "schedules share one stored budget (\`max_stored\` of the rehearsal scenarios). Wall time"
	echo "is one single-threaded run, $JOBS run(s) at a time on this machine, whatever else it ran"
	echo "(compare times within a table, not across remakes); peak RSS in MiB. A strategy's own"
	echo "scenario gives its settings; docs/baselines.md and docs/fidelity.md say where they come"
	echo "from and how they compare with the PyTorch twins."
	configs | tables "##"
	echo
	echo "## Orderings the literature reports (MLP)"
	echo
	echo "- Class-incremental, regularisation only (SI, MAS, LwF, EWC) near naive's 0.20 and"
	echo "  memory methods far above it: holds (MAS highest of them, about 0.3; A-GEM the"
	echo "  lowest memory method, about 0.4)."
	echo "- DER++ ≥ ER ≥ A-GEM at the same memory (500 samples each; ER = rehearsal"
	echo "  (reservoir)): holds in class-incremental and domain-incremental (permuted)."
	echo "  Task-incremental: every method is at the ceiling (naive 0.985), where DER++ and DER"
	echo "  sit 0.01 to 0.02 below ER with a seed spread as large; the twins show the same"
	echo "  (docs/fidelity.md), so it is the method on this protocol, not lethe."
	echo "- iCaRL's NME above its own softmax head: the rows icarl and icarl (softmax"
	echo "  head, \`icarl.nme = false\`) above."
	echo "- BiC ≥ iCaRL: does not hold on this protocol (2 epochs a task, 500 exemplars,"
	echo "  about 3 of a batch's 64 rows): docs/baselines.md (\"Why BiC is below iCaRL\")"
	echo "  has the measurements."
	cnn_section
	echo
	echo "## OVOR (class-incremental, 5 epochs per task)"
	echo
	echo "Inter-task confusion: the fraction of test errors whose predicted class belongs to"
	echo "another task than the true one (\"inter_task_confusion\" in metrics.json)."
	echo
	ovor_configs | ovor_table
} >"$DOC"
echo "wrote $DOC"
