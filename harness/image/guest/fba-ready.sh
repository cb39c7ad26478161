#!/bin/sh
# Once startup has finished, write one "FBA-READY ..." line to the console:
#   FBA-READY <state> host=<hostname> boot=<n> varlib=<disk|tmpfs> failed=<units|->
# boot counts boots in /var/lib/fba/boots (persists only with the varlib disk).
state=$(systemctl is-system-running --wait 2>/dev/null)
mkdir -p /var/lib/fba
boots=$(cat /var/lib/fba/boots 2>/dev/null || echo 0)
boots=$((boots + 1))
echo "$boots" > /var/lib/fba/boots.tmp && mv /var/lib/fba/boots.tmp /var/lib/fba/boots
if mountpoint -q /var/lib; then varlib=disk; else varlib=tmpfs; fi
failed=$(systemctl list-units --failed --plain --no-legend 2>/dev/null | awk '{print $1}' | paste -sd, -)
printf "\nFBA-READY %s\n" "${state:-unknown} host=$(uname -n) boot=$boots varlib=$varlib failed=${failed:--}" > /dev/console
