#!/usr/bin/env bash
# Booted-system test of the checksyncd Debian package.
#
# Builds the package twice from the work tree (the real version, and the
# same tree as a lower "previous" version), boots a minimal Debian 12 with
# systemd and dbus under systemd-nspawn, installs the previous build, edits
# its conffile, upgrades to the fresh build, and checks the installed
# package from inside the container (through nsenter into its init) and
# from the host (sipsak on 127.0.0.1: the container shares the host's
# network namespace). Prints PASS/FAIL per check and a last line
# "system: N passed, N failed"; exits non-zero when a check failed.
#
#   sudo test/system/run-nspawn.sh [--keep] [--refresh-root]
#
#   --keep           keep the work folder (logs, packages, container tree)
#   --refresh-root   debootstrap the cached root tree again
#
# Environment:
#   CHECKSYNCD_NSPAWN_CACHE  cache folder (default /var/cache/checksyncd-nspawn);
#                            the debootstrapped tree is kept there and reused,
#                            each run boots a throw-away overlay of it
#   CHECKSYNCD_SYSTEST_PORT  SIP port of the booted daemon (default 5062)
#
# See docs/packaging.md.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${CHECKSYNCD_NSPAWN_CACHE:-/var/cache/checksyncd-nspawn}
port=${CHECKSYNCD_SYSTEST_PORT:-5062}
suite=bookworm
keep=0
refresh=0
for arg in "$@"; do
	case $arg in
	--keep) keep=1 ;;
	--refresh-root) refresh=1 ;;
	*) echo "usage: $0 [--keep] [--refresh-root]" >&2; exit 2 ;;
	esac
done
if [ "$(id -u)" -ne 0 ]; then
	echo "run-nspawn: needs root (debootstrap, mounts, systemd-nspawn)" >&2
	exit 2
fi

started=$SECONDS
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1${2:+ ($2)}"; }
check() { # check NAME DETAIL COMMAND...
	local name=$1 detail=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}
info() { echo "INFO: $*"; }
# A sleep that a signal interrupts (bash runs traps only between commands).
pause() { sleep "$1" & wait $!; }
lintian_pid=
finish() {
	if [ -n "$lintian_pid" ]; then
		wait "$lintian_pid"
		lintian_pid=
		if grep -qE '^[EW]: ' "$work/lintian.log"; then
			cat "$work/lintian.log"
			fail "lintian: no errors, no warnings"
		else
			pass "lintian: no errors, no warnings"
		fi
	fi
	echo "system: run time $((SECONDS - started)) s"
	echo "system: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}
abort() { fail "$1" "${2:-}"; finish; }

work=$(mktemp -d /tmp/checksyncd-nspawn.XXXXXX)
root=$work/root
share=$work/share # bound to /mnt/systest in the container
nspawn_pid=
init_pid=
overlay=0

cleanup() {
	[ -n "$lintian_pid" ] && kill "$lintian_pid" 2>/dev/null
	if [ -n "$init_pid" ] && [ -d "/proc/$init_pid" ]; then
		cin systemctl poweroff >/dev/null 2>&1 || true
	fi
	if [ -n "$nspawn_pid" ]; then
		for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$nspawn_pid" 2>/dev/null; then
			kill -TERM "$nspawn_pid" 2>/dev/null || true
			sleep 2
			kill -KILL "$nspawn_pid" 2>/dev/null || true
		fi
		wait "$nspawn_pid" 2>/dev/null || true
	fi
	if [ "$overlay" = 1 ]; then
		umount "$root" 2>/dev/null || umount -l "$root" 2>/dev/null || true
	fi
	if [ "$keep" = 1 ]; then
		echo "run-nspawn: kept $work" >&2
	else
		rm -rf --one-file-system "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- host tools ------------------------------------------------------------

"$repo/tools/install-deps" >"$work/install-deps.log" 2>&1 ||
	abort "host dependencies" "see tools/install-deps"
host_packages=(build-essential debhelper dpkg-dev lintian debootstrap systemd-container sipsak)
missing=()
for p in "${host_packages[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	{ DEBIAN_FRONTEND=noninteractive apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
		>>"$work/install-deps.log" 2>&1 || abort "host dependencies" "apt-get install ${missing[*]}"
fi
(cd "$repo" && dpkg-checkbuilddeps) >>"$work/install-deps.log" 2>&1 ||
	abort "the package's build dependencies" "$(tail -n 1 "$work/install-deps.log")"

# One run at a time: the cache and the port are shared.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock -w 900 9 || abort "lock $cache/.lock" "another run holds it"
if ss -Hlnu "sport = :$port" | grep -q . || ss -Hlnt "sport = :$port" | grep -q .; then
	abort "SIP port $port is free" "something listens on it; set CHECKSYNCD_SYSTEST_PORT"
fi

# --- build the fresh and the previous package -------------------------------

version=$(cd "$repo" && dpkg-parsechangelog -S Version)
prev_version="$version~systest1"
for tree in fresh prev; do
	mkdir -p "$work/$tree/src"
	# The work tree as it is: tracked files (less deleted ones) and new ones.
	(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
		tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
		tar -xf - -C "$work/$tree/src" || abort "copy the source tree"
done
{
	cat <<EOF
checksyncd ($prev_version) unstable; urgency=medium

  * The previous build, for the booted-system test's upgrade check.

 -- checksyncd system test <root@localhost>  $(date -R)

EOF
	cat "$work/prev/src/debian/changelog"
} >"$work/prev/changelog" && mv "$work/prev/changelog" "$work/prev/src/debian/changelog"

# Both builds at once; the previous one without its tests.
(cd "$work/fresh/src" && DEB_BUILD_OPTIONS= dpkg-buildpackage -us -uc -b) >"$work/build-fresh.log" 2>&1 &
build_fresh=$!
(cd "$work/prev/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$work/build-prev.log" 2>&1 &
build_prev=$!
wait "$build_fresh"; rc_fresh=$?
wait "$build_prev"; rc_prev=$?
arch=$(dpkg --print-architecture)
deb=$work/fresh/checksyncd_${version}_$arch.deb
prev_deb=$work/prev/checksyncd_${prev_version}_$arch.deb
if [ "$rc_fresh" -eq 0 ] && [ -f "$deb" ] && grep -q 'meson test --suite unit' "$work/build-fresh.log"; then
	pass "dpkg-buildpackage -us -uc -b builds checksyncd $version (unit tests run)"
else
	tail -n 30 "$work/build-fresh.log"
	abort "dpkg-buildpackage -us -uc -b" "see the log above"
fi
[ "$rc_prev" -eq 0 ] && [ -f "$prev_deb" ] || { tail -n 30 "$work/build-prev.log"; abort "build the previous package $prev_version"; }
standin=$work/fresh/src/obj-$(dpkg-architecture -qDEB_HOST_MULTIARCH)/test/provisioning-standin
[ -x "$standin" ] || abort "provisioning stand-in built by the package's meson build" "$standin"

# lintian runs meanwhile; its verdict is printed at the end.
lintian --display-level '>=warning' "$work/fresh/checksyncd_${version}_$arch.changes" \
	>"$work/lintian.log" 2>&1 &
lintian_pid=$!

# --- the cached root tree ----------------------------------------------------

# The mirror apt uses: the first URI of the deb822 stanza for this suite.
mirror() {
	local file=/etc/apt/sources.list.d/debian.sources
	if [ -f "$file" ]; then
		awk -v suite="$suite" '
			/^[[:space:]]*$/ { if (uri != "" && has) { print uri; exit } uri = ""; has = 0; next }
			/^URIs:/ { uri = $2 }
			/^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
			END { if (uri != "" && has) print uri }' "$file" | head -n 1
	elif [ -f /etc/apt/sources.list ]; then
		awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' /etc/apt/sources.list
	fi
}

cached=$cache/$suite
include=systemd,systemd-sysv,dbus,libsofia-sip-ua0,libxml2,libssl3
if [ "$refresh" = 1 ] || [ "$(cat "$cached/.checksyncd-include" 2>/dev/null)" != "$include" ]; then
	uri=$(mirror)
	[ -n "$uri" ] || abort "find the apt mirror" "no $suite entry in the apt sources"
	mkdir -p "$cache"
	rm -rf --one-file-system "$cached.tmp" "$cached"
	if debootstrap --variant=minbase --include="$include" "$suite" "$cached.tmp" "$uri" \
		>"$work/debootstrap.log" 2>&1; then
		echo "$include" >"$cached.tmp/.checksyncd-include"
		mv "$cached.tmp" "$cached"
		info "debootstrapped $suite from $uri into $cached"
	else
		tail -n 20 "$work/debootstrap.log"
		rm -rf --one-file-system "$cached.tmp"
		abort "debootstrap $suite"
	fi
fi

# Each run boots a throw-away copy: an overlay where the kernel has it.
mkdir -p "$root" "$work/upper" "$work/overlay-work" "$share"
if mount -t overlay checksyncd-systest \
	-o "lowerdir=$cached,upperdir=$work/upper,workdir=$work/overlay-work" "$root" 2>/dev/null; then
	overlay=1
else
	cp -a "$cached/." "$root/" || abort "copy the root tree"
fi

# The provisioning stand-in, as a system service owning the name as root.
install -D -m 0755 "$standin" "$root/usr/local/libexec/checksyncd-systest/provisioning-standin"
cat >"$root/etc/systemd/system/provisioning-standin.service" <<'EOF'
[Unit]
Description=Provisioning stand-in for the checksyncd system test
Requires=dbus.socket
After=dbus.socket

[Service]
Type=dbus
BusName=org.checksyncd.Provisioning1
ExecStart=/usr/local/libexec/checksyncd-systest/provisioning-standin --bus system --record /var/lib/provisioning-standin/calls.jsonl --finish success --finish-message "resync done"
StateDirectory=provisioning-standin

EOF
# Started once the package is installed: the package's bus policy is what
# lets root own org.checksyncd.Provisioning1.
echo checksyncd-systest >"$root/etc/hostname"
cp "$deb" "$prev_deb" "$share/"

# The phone documentation's NOTIFY, as in tools/demo.
cat >"$work/notify.txt" <<SIP
NOTIFY sip:340899@127.0.0.1:$port SIP/2.0
To: sip:340899@127.0.0.1:$port
From: sip:sipsak@127.0.0.1
CSeq: 10 NOTIFY
Call-ID: 1234@192.168.137.1
Event: check-sync;reboot=false

SIP

# --- boot ----------------------------------------------------------------------

systemd-nspawn --quiet --register=no --keep-unit --boot --directory="$root" \
	--machine=checksyncd-systest --bind="$share:/mnt/systest" --console=read-only \
	</dev/null >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!

# A command inside the booted container, in all of its init's namespaces.
cin() {
	nsenter --target "$init_pid" --all \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=dumb \
		DEBIAN_FRONTEND=noninteractive "$@"
}
for _ in $(seq 200); do
	kill -0 "$nspawn_pid" 2>/dev/null || break
	child=$(pgrep -P "$nspawn_pid" | head -n 1)
	if [ -n "$child" ] && [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then
		init_pid=$child
		break
	fi
	sleep 0.1
done
[ -n "$init_pid" ] || { cat "$work/nspawn.log"; abort "boot the container" "no systemd in it"; }
# systemctl answers once the container's manager has its private socket.
state=
for _ in $(seq 90); do
	state=$(timeout 90 nsenter --target "$init_pid" --all systemctl is-system-running --wait 2>&1)
	[[ $state == *"Failed to connect"* ]] || break
	sleep 1
done
if [ "$state" = running ]; then
	pass "the container booted (systemctl is-system-running: running)"
else
	cin systemctl --failed --no-pager 2>&1 | head -n 20
	fail "the container booted" "is-system-running: $state"
fi

settings=/etc/checksyncd/settings.xml
# write_settings CHALLENGE: the identity of the seed's flow, port $port.
write_settings() {
	# Writing through the existing file keeps its mode and group.
	cin sh -c "cat >$settings" <<XML
<?xml version="1.0" encoding="utf-8"?>
<!-- edited by the checksyncd system test -->
<settings>
  <phone-settings e="2">
    <challenge_checksync perm="">$1</challenge_checksync>
    <!-- no plug-and-play SUBSCRIBE on the host's network -->
    <pnp_config perm="">off</pnp_config>
    <network_id_port perm="">$port</network_id_port>
    <user_active idx="1" perm="">on</user_active>
    <user_name idx="1" perm="">340899</user_name>
    <user_host idx="1" perm="">ser.berlin.snom.com</user_host>
    <user_pass idx="1" perm="">1234</user_pass>
  </phone-settings>
</settings>
XML
}
prop() { cin systemctl show -P "$1" checksyncd; }

# --- install the previous build, edit its conffile, upgrade -------------------

# The shipped settings listen on 5060 of the host's network namespace, which
# may be taken: keep the first installation from starting the unit, the
# usual way (policy-rc.d), until the conffile names $port.
cin sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
if cin apt-get install -y -q "/mnt/systest/$(basename "$prev_deb")" >"$work/apt-prev.log" 2>&1; then
	pass "apt-get install ./checksyncd_${prev_version}_$arch.deb (the previous build)"
else
	tail -n 20 "$work/apt-prev.log"
	abort "apt-get install the previous build"
fi
cin rm -f /usr/sbin/policy-rc.d
if cin systemctl start provisioning-standin; then
	pass "the stand-in owns org.checksyncd.Provisioning1 as root under the shipped policy"
else
	cin journalctl -u provisioning-standin --no-pager | tail -n 5
	abort "the stand-in owns org.checksyncd.Provisioning1 as root under the shipped policy"
fi
write_settings off
before=$(cin sha256sum "$settings")
if cin apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	"/mnt/systest/$(basename "$deb")" >"$work/apt-upgrade.log" 2>&1; then
	pass "apt-get install ./checksyncd_${version}_$arch.deb upgrades the previous build"
else
	tail -n 20 "$work/apt-upgrade.log"
	abort "upgrade to the fresh build"
fi
after=$(cin sha256sum "$settings")
installed=$(cin dpkg-query -W -f='${Version} ${db:Status-Abbrev}' checksyncd)
perms=$(cin stat -c '%a %U:%G' "$settings")
check "the upgrade keeps the edited conffile (mode $perms)" "$installed; $perms" \
	test "$before" = "$after" -a "$installed" = "$version ii " -a "$perms" = "640 root:checksyncd"

# --- the running unit ------------------------------------------------------------

for _ in $(seq 100); do [ "$(prop ActiveState)" = activating ] || break; sleep 0.1; done
active=$(prop ActiveState)
status=$(prop StatusText)
restarts=$(prop NRestarts)
echo "      ActiveState=$active NRestarts=$restarts StatusText=$status"
check "the unit is active and reached READY (status names port $port)" "$active, $restarts restarts" \
	test "$active" = active -a "$restarts" = 0 -a -n "$(grep -o "Serving check-sync on .*:$port" <<<"$status")"

# --man=no: the minimal tree has no man-db to look up Documentation=.
verify=$(cin systemd-analyze verify --man=no checksyncd.service 2>&1)
check "systemd-analyze verify checksyncd.service: no complaint" "$verify" test -z "$verify"

exposure=$(cin systemd-analyze security --no-pager checksyncd.service 2>/dev/null |
	sed -n 's/^→ Overall exposure level for checksyncd.service: \([0-9.]*\).*/\1/p')
info "systemd-analyze security checksyncd.service: ${exposure:-?}"
check "systemd-analyze security rates the unit <= 1.5 (${exposure:-?})" "${exposure:-no figure}" \
	awk -v e="${exposure:-9}" 'BEGIN { exit !(e <= 1.5) }'

pid=$(prop MainPID)
proc=$(cin cat "/proc/$pid/status" 2>/dev/null)
uid=$(cin id -u checksyncd)
check "the daemon runs as checksyncd, no capabilities, no new privileges, seccomp" "$(grep -E '^(Uid|Cap(Eff|Prm|Bnd)|NoNewPrivs|Seccomp):' <<<"$proc" | tr '\n\t' '  ')" \
	bash -c '[[ $(awk "/^Uid:/ { print \$2 }" <<<"$1") == "$2" ]] &&
		[[ $(grep -cE "^Cap(Eff|Prm|Bnd|Amb):[[:space:]]+0+$" <<<"$1") == 4 ]] &&
		grep -qE "^NoNewPrivs:[[:space:]]+1$" <<<"$1" && grep -qE "^Seccomp:[[:space:]]+2$" <<<"$1"' _ "$proc" "$uid"
rss=$(awk '/^VmRSS:/ { print $2, $3 }' <<<"$proc")
info "daemon RSS: $rss"
info "installed size: $(cin dpkg-query -W -f='${Installed-Size}' checksyncd) KiB"

# --- the seed's flow, challenge off -------------------------------------------------

record=/var/lib/provisioning-standin/calls.jsonl
sip() { timeout 20 sipsak -vv "$@" -f "$work/notify.txt" -s "sip:340899@127.0.0.1:$port" 2>&1; }
final() { grep -E '^SIP/2.0 [0-9]{3}' | tail -n 1; }

answer=$(sip | final)
last_call=$SECONDS
check "sipsak from the host, challenge off: 200" "got: ${answer:-nothing}" grep -q '^SIP/2.0 200' <<<"$answer"

sleep 0.3
calls=$(cin cat "$record" 2>/dev/null)
line=$(grep '"method":"Resync"' <<<"$calls" | head -n 1)
sender=$(sed -n 's/.*"sender":"\([^"]*\)".*/\1/p' <<<"$line")
sender_uid=$(cin busctl --system status --no-pager "$sender" 2>/dev/null | sed -n 's/^UID=//p')
echo "      stand-in: $line"
check "the stand-in received Resync over the system bus from uid checksyncd" "sender $sender uid ${sender_uid:-?}" \
	test -n "$line" -a "$sender_uid" = "$uid" -a \
	"$(grep -c '"authenticated":false' <<<"$line")" = 1

denied=$(cin setpriv --reuid=65534 --regid=65534 --clear-groups busctl --system call \
	org.checksyncd.Provisioning1 /org/checksyncd/Provisioning1 org.checksyncd.Provisioning1 \
	Resync 'a{sv}' 0 2>&1)
check "the shipped bus policy refuses the call to another user" "$denied" \
	grep -qi 'access denied\|AccessDenied' <<<"$denied"

# --- challenge on, by editing the settings and reloading ------------------------------

write_settings on
reload_out=$(cin systemctl reload checksyncd 2>&1)
reload_rc=$?
for _ in $(seq 50); do
	[[ $(prop StatusText) == *"challenge on"* ]] && break
	sleep 0.1
done
status=$(prop StatusText)
sighup=$(cin journalctl -u checksyncd --no-pager -o cat | grep -c '^SIGHUP: reloading')
check "systemctl reload checksyncd: SIGHUP, the edited settings in force (challenge on)" \
	"rc $reload_rc $reload_out; $sighup SIGHUP lines; $status" \
	test "$reload_rc" = 0 -a "$sighup" -ge 1 -a -n "$(grep -o 'challenge on' <<<"$status")"

answer=$(sip | final)
check "challenge on, no credentials: 401" "got: ${answer:-nothing}" grep -q '^SIP/2.0 401' <<<"$answer"

# The provisioning process hears at most one call per method per 5 s.
wait_for=$((last_call + 6 - SECONDS))
[ "$wait_for" -gt 0 ] && pause "$wait_for"
answer=$(sip -a 1234 -u 340899 | final)
check "sipsak -a 1234 -u 340899, challenge on: 200" "got: ${answer:-nothing}" grep -q '^SIP/2.0 200' <<<"$answer"
sleep 0.3
check "the stand-in received the authenticated Resync" "$(cin tail -n 1 "$record")" \
	test "$(cin grep -c '"method":"Resync".*"authenticated":true' "$record")" = 1

# The source that authenticated is kept for the next start (the unit's
# StateDirectory=, writable under ProtectSystem=strict); the first change
# is written at once.
state=/var/lib/checksyncd/known-sources
for _ in $(seq 30); do cin test -e "$state" && break; sleep 0.1; done
known=$(cin cat "$state" 2>&1)
modes="$(cin stat -c '%a %U' /var/lib/checksyncd "$state" 2>&1 | tr '\n' ' ')"
check "the state file lists 127.0.0.1 ($modes)" "$known; $modes" \
	test "$known" = "$(printf 'checksyncd known-sources 1\n127.0.0.1')" -a \
	"$modes" = "700 checksyncd 600 checksyncd "

# --- the status object, org.checksyncd.CheckSync1 ------------------------------------

# status AS PROPERTY: one property as busctl's JSON, read as user AS (a uid).
status() {
	cin setpriv --reuid="$1" --regid="$1" --clear-groups busctl --system --json=short \
		get-property org.checksyncd.CheckSync1 /org/checksyncd/CheckSync1 \
		org.checksyncd.CheckSync1 "$2" 2>&1
}
# unlock AS ADDRESS: Unlock called as user AS; prints busctl's error, if any.
unlock() {
	cin setpriv --reuid="$1" --regid="$1" --clear-groups busctl --system call \
		org.checksyncd.CheckSync1 /org/checksyncd/CheckSync1 org.checksyncd.CheckSync1 \
		Unlock s "$2" 2>&1
}
# json EXPRESSION: evaluate EXPRESSION on busctl's JSON (stdin) as `d`,
# its data with the a{sv} variants unwrapped.
json() {
	python3 -c 'import json, sys
v = json.load(sys.stdin)
d = v["data"]
if v["type"] == "a{sv}":
    d = {k: x["data"] for k, x in d.items()}
print(eval(sys.argv[1]))' "$1"
}
last=$(status 65534 LastCheckSync)
counters=$(status 65534 Counters)
echo "      LastCheckSync: $(json 'd["sip_status"], d["authenticated"], d["provisioning"], d.get("result")' <<<"$last" 2>&1)"
echo "      Counters: $(json 'd' <<<"$counters" 2>&1)"
check "busctl as an ordinary user reads the status: the authenticated check-sync, 200, accepted, its result" \
	"$last" test "$(json 'd["sip_status"], d["authenticated"], d["provisioning"], d["result"], d["result_message"]' \
	<<<"$last" 2>&1)" = "(200, True, 'accepted', 'success', 'resync done')"
# sipsak may retransmit: at least the requests it needed, but exactly two served.
check "the counters: 2 served, 2 or more challenged and 4 or more received, none locked out" "$counters" \
	test "$(json 'd["served"], d["challenged"] >= 2, d["received"] >= 4, d["locked_out"]' <<<"$counters" 2>&1)" = "(2, True, True, 0)"
result=$(cin journalctl -u checksyncd -o verbose --no-pager | grep -c '^ *CHECKSYNC_RESULT=success$')
check "ActionFinished from the provisioning process is in the journal (CHECKSYNC_RESULT=success)" \
	"$result lines" test "$result" -ge 1

# Five wrong passwords lock this host (127.0.0.1) out for 60 s.
for _ in 1 2 3 4 5; do sip -a wrong-password -u 340899 >/dev/null; done
answer=$(sip | final)
locked=$(status 65534 LockedOut)
check "five wrong passwords: 403, and LockedOut lists 127.0.0.1 with its end in about 60 s" \
	"got: ${answer:-nothing}; $locked" test "$(grep -c '^SIP/2.0 403' <<<"$answer")" = 1 -a \
	"$(json 'list(d), 50e6 < d.get("127.0.0.1", 0) - '"$(date +%s%6N)"' <= 61e6' <<<"$locked" 2>&1)" = "(['127.0.0.1'], True)"
denied=$(unlock 65534 127.0.0.1)
check "the bus policy refuses Unlock to an ordinary user" "$denied; $(status 0 LockedOut)" \
	bash -c 'grep -qi "access denied" <<<"$1" && grep -q 127.0.0.1 <<<"$2"' _ "$denied" "$(status 0 LockedOut)"
lifted=$(unlock 0 127.0.0.1)
answer=$(sip | final)
check "root's Unlock lifts the lockout: LockedOut empty, challenged again (401)" \
	"$lifted; $(status 0 LockedOut); got: ${answer:-nothing}" \
	test -z "$lifted" -a "$(status 0 LockedOut | json 'd' 2>&1)" = "{}" -a \
	"$(grep -c '^SIP/2.0 401' <<<"$answer")" = 1

# --- hand-overs from the phone's UA, org.checksyncd.Handoff1 --------------------------

# The seed's NOTIFY as it reaches a UA over TLS from the PBX (with a Via and
# CRLF line ends, as on the wire).
printf '%s\r\n' "NOTIFY sip:340899@192.0.2.10:5061 SIP/2.0" \
	"Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK-systest" \
	"To: <sip:340899@192.0.2.10>" "From: <sip:pbx@192.0.2.1>;tag=1" "CSeq: 10 NOTIFY" \
	"Call-ID: handoff@192.0.2.1" "Event: check-sync;reboot=false" "Content-Length: 0" "" \
	>"$work/handoff.txt"
# handoff AS [GROUP]: that NOTIFY handed over as user AS (with GROUP as its
# supplementary group, if given).
handoff() {
	local groups=--clear-groups
	[ -n "${2:-}" ] && groups=--groups=$2
	cin setpriv --reuid="$1" --regid="$1" "$groups" busctl --system --json=short call \
		org.checksyncd.CheckSync1 /org/checksyncd/CheckSync1 org.checksyncd.Handoff1 \
		HandleRequest 'aya{sv}' "$(stat -c %s "$work/handoff.txt")" \
		$(od -An -v -tu1 "$work/handoff.txt") \
		2 transport s tls remote s 192.0.2.1:5061 2>&1
}
group=$(cin getent group checksyncd-ua)
check "the package created the group checksyncd-ua" "${group:-none}" test -n "$group"
denied=$(handoff 65534)
check "the bus policy refuses HandleRequest to a user outside checksyncd-ua" \
	"$denied; handed over: $(status 0 Counters | json 'd["handed_over"]' 2>&1)" \
	bash -c 'grep -qi "access denied" <<<"$1" && test "$2" = 0' _ "$denied" \
	"$(status 0 Counters | json 'd["handed_over"]' 2>&1)"
handed=$(handoff 65534 checksyncd-ua)
check "a member of checksyncd-ua hands a NOTIFY over: 401 with a digest challenge" \
	"$handed" test "$(json 'd[0], d[2][1][0], d[2][1][1].startswith("Digest realm=")' <<<"$handed" 2>&1)" = \
	"(401, 'WWW-Authenticate', True)"
check "LastCheckSync shows it was handed over, over tls" "$(status 0 LastCheckSync)" \
	test "$(status 0 LastCheckSync | json 'd["handed_over"], d["transport"], d["remote"]' 2>&1)" = \
	"(True, 'tls', 'tls:192.0.2.1:5061')"

# --- a restart keeps the sources that authenticated ------------------------------------------

mark=$(cin journalctl -u checksyncd --no-pager -o cat | wc -l)
restart_out=$(cin systemctl restart checksyncd 2>&1)
restart_rc=$?
for _ in $(seq 100); do [ "$(prop ActiveState)" = active ] && break; sleep 0.1; done
read_back=$(cin journalctl -u checksyncd --no-pager -o cat | tail -n +"$((mark + 1))" |
	grep -c "^$state: 1 source that authenticated before")
check "systemctl restart: the daemon reads the state file back" \
	"rc $restart_rc $restart_out; $(prop ActiveState); $read_back lines" \
	test "$restart_rc" = 0 -a "$(prop ActiveState)" = active -a "$read_back" = 1

# --- the journal --------------------------------------------------------------------------

journal=$(cin journalctl -u checksyncd -o verbose --no-pager)
check "journalctl -u checksyncd -o verbose shows structured fields (SIP_REMOTE=, SIP_STATUS=, SETTINGS_FILE=)" "" \
	bash -c 'grep -q "^ *SIP_REMOTE=udp:127.0.0.1:" <<<"$1" && grep -q "^ *SIP_STATUS=200$" <<<"$1" &&
		grep -q "^ *SETTINGS_FILE=$2$" <<<"$1"' _ "$journal" "$settings"
# The password is 1234 (the seed's Call-ID 1234@... is not it), and its HA1.
ha1=$(printf '%s' "340899:ser.berlin.snom.com:1234" | md5sum | cut -d' ' -f1)
all=$(cin journalctl -o verbose --no-pager)
leaks=$(grep -nE "(^|[^0-9A-Za-z])1234([^0-9A-Za-z@]|$)|$ha1|user_pass" <<<"$all")
check "the journal never shows the password or its HA1" "$(head -n 3 <<<"$leaks")" test -z "$leaks"

# --- watchdog -----------------------------------------------------------------------------------

wd=$(prop WatchdogUSec)
start_mono=$(prop ExecMainStartTimestampMonotonic)
wd_usec=$(cin systemd-analyze timespan "$wd" | awk '$1 == "μs:" { print $2 }')
wd_usec=${wd_usec:-0}
# Wait until more than one interval has passed since the (re)start.
start_s=$(date -d "$(prop ExecMainStartTimestamp)" +%s)
rest=$((start_s + wd_usec / 1000000 + 2 - $(date +%s)))
[ "$rest" -gt 0 ] && pause "$rest"
ping_mono=$(prop WatchdogTimestampMonotonic)
restarts=$(prop NRestarts)
info "watchdog: WatchdogUSec=$wd, last ping $(( (ping_mono - start_mono) / 1000000 )) s after the start"
timeouts=$(cin journalctl -u checksyncd --no-pager -o cat | grep -c 'Watchdog timeout' || true)
check "watchdog armed ($wd), pinged, no restarts after more than one interval" \
	"WatchdogUSec=$wd pinged at +$(( (ping_mono - start_mono) / 1000000 )) s, NRestarts=$restarts, $timeouts timeouts" \
	test "$wd_usec" -gt 0 -a "$ping_mono" -gt "$((start_mono + wd_usec / 4))" -a "$restarts" = 0 -a "$timeouts" = 0

# --- stop, purge ------------------------------------------------------------------------------------

stop_out=$(cin systemctl stop checksyncd 2>&1)
stop_rc=$?
result="$(prop ActiveState) $(prop Result) code=$(prop ExecMainCode) status=$(prop ExecMainStatus)"
check "systemctl stop is clean (exit status 0)" "rc $stop_rc $stop_out; $result" \
	test "$stop_rc" = 0 -a "$result" = "inactive success code=1 status=0"

files=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^/*$')
if cin apt-get purge -y -q checksyncd >"$work/apt-purge.log" 2>&1; then
	left=()
	# Folders of the package that other packages share may stay; files may not.
	while read -r f; do
		cin test -d "$f" && continue
		cin test -e "$f" -o -L "$f" && left+=("$f")
	done <<<"$files"
	for f in /etc/checksyncd /usr/share/doc/checksyncd /var/lib/checksyncd \
		/etc/systemd/system/multi-user.target.wants/checksyncd.service \
		/var/lib/systemd/deb-systemd-helper-enabled/checksyncd.service.dsh-also; do
		cin test -e "$f" && left+=("$f")
	done
	cin dpkg-statoverride --list /etc/checksyncd/settings.xml >/dev/null && left+=("statoverride")
	cin dpkg-query -W checksyncd >/dev/null 2>&1 && left+=("dpkg status entry")
	check "apt-get purge checksyncd leaves nothing behind" "left: ${left[*]}" test ${#left[@]} -eq 0
else
	tail -n 20 "$work/apt-purge.log"
	fail "apt-get purge checksyncd"
fi

finish
