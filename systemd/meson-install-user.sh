#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Run by `meson install` (after every file is in place): create the
# daemon's system user and group from the sysusers.d entry just installed,
# and give the settings file (SIP passwords) to that group, mode 0640, so
# that the daemon can read it and nobody else can. install_mode already
# sets the group when it exists; on a first install it does not yet.
#
# Only for an install onto the running system: with DESTDIR (a package
# being built), the package does this when it is installed (Debian: the
# postinst's systemd-sysusers and dpkg-statoverride). Without root, the
# install is the user's own and the daemon runs as that user.
#
#   meson-install-user.sh SYSUSERS_CONF SETTINGS_FILE
set -u
conf=$1
settings=$2
group=checksyncd

[ -z "${DESTDIR:-}" ] || exit 0
[ "$(id -u)" -eq 0 ] || exit 0

if ! getent group "$group" >/dev/null; then
	if command -v systemd-sysusers >/dev/null; then
		systemd-sysusers "$conf" ||
			echo "meson install: systemd-sysusers $conf failed" >&2
	fi
fi
if getent group "$group" >/dev/null; then
	chgrp "$group" "$settings" && chmod 0640 "$settings"
else
	echo "meson install: warning: no group $group (systemd-sysusers $conf creates it);" \
		"until then $settings is readable by root only, not by the daemon" >&2
fi
exit 0
