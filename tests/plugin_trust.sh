#!/bin/sh
# Plugin files others could change are refused before dlopen runs a line of them, as ssh refuses
# keys others could change: the file and its directory must belong to you or root, not be
# writable by anyone (a sticky directory such as /tmp aside), and be group-writable only if yours.
# The vandal test plugin's constructor leaves a mark when $LETHE_TEST_CONSTRUCTOR names a file.
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/testlib.sh"
scratch trust 'chmod -R u+rwx "$TMP" 2>/dev/null'

D=$TMP/plugins
mkdir "$D"
chmod 755 "$D"
cp "$PLUGINS/vandal.so" "$D/vandal.so"
chmod 644 "$D/vandal.so"
S=$TMP/s.ini
cat >"$S" <<EOF
[scenario]
name = trust
protocol = class-incremental
plugins = $D/vandal.so
[data]
source = synthetic
classes = 4
dim = 8
train_per_class = 20
test_per_class = 5
[tasks]
split = 2
[model]
hidden = 16
EOF

expect 0 "ok:" "a plugin only you can change loads" -- "$LETHE" check "$S"
chmod 664 "$D/vandal.so"
expect 0 "ok:" "group-writable and yours (umask 002) loads" -- "$LETHE" check "$S"
chmod 666 "$D/vandal.so"
expect 2 "plugin $D/vandal.so: refused: $D/vandal.so is writable by anyone (mode 0666)" \
	"world-writable file refused" -- "$LETHE" check "$S"
expect 2 "refused: $D/vandal.so is writable by anyone" "world-writable file refused by run" -- \
	"$LETHE" run "$S" --out "$TMP/run"
if [ -e "$TMP/run/metrics.json" ]; then not_ok "refused run wrote results"
else ok "refused run wrote nothing"; fi
chmod 644 "$D/vandal.so"
chmod 777 "$D"
expect 2 "refused: $D is writable by anyone (mode 0777); chmod o-w it" \
	"world-writable directory refused" -- "$LETHE" check "$S"
chmod 1777 "$D"
expect 0 "ok:" "sticky world-writable directory (like /tmp) loads" -- "$LETHE" check "$S"
chmod 775 "$D"
expect 0 "ok:" "group-writable directory of yours loads" -- "$LETHE" check "$S"

# lethe plugins opens every .so on the path: a refused one is skipped, its constructor not run.
chmod 755 "$D"
chmod 666 "$D/vandal.so"
expect 0 "lethe: skipped: plugin $D/vandal.so: refused:" "plugins skips a world-writable file" \
	-- env LETHE_TEST_CONSTRUCTOR="$TMP/mark" "$LETHE" plugins --plugin-path "$D"
if [ -e "$TMP/mark" ]; then not_ok "plugins ran a refused file's constructor"
else ok "plugins did not dlopen the refused file"; fi
chmod 644 "$D/vandal.so"
expect 0 "vandal 1.0" "plugins lists it once fixed" -- \
	env LETHE_TEST_CONSTRUCTOR="$TMP/mark" "$LETHE" plugins --plugin-path "$D"
if [ -e "$TMP/mark" ]; then ok "the mark shows a loaded constructor"
else not_ok "the constructor left no mark: the check above proves nothing"; fi

# Another owner, and a group-writable file of root's run by someone else: root alone can set
# them up.
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null 2>&1; then
	chown 65534 "$D/vandal.so"
	expect 2 "refused: $D/vandal.so is owned by uid 65534, not by you or root" \
		"file of another user refused" -- "$LETHE" check "$S"
	chown 0 "$D/vandal.so"
	chown 65534 "$D"
	expect 2 "refused: $D is owned by uid 65534, not by you or root" \
		"directory of another user refused" -- "$LETHE" check "$S"
	chown 0 "$D"
	chmod 711 "$TMP"
	chmod 664 "$D/vandal.so"
	expect 2 "refused: $D/vandal.so is writable by its group (mode 0664) and not yours" \
		"group-writable file of root's refused for another user" -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$LETHE" check "$S"
	chmod 644 "$D/vandal.so"
	expect 0 "ok:" "root's file loads for another user" -- \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$LETHE" check "$S"
	chmod 700 "$TMP"
else
	echo "note: not root: the checks of other owners skipped"
fi

finish
