#!/usr/bin/env bash
# Start (or check) a real single-node SLURM cluster on localhost for tests/test_slurm.py.
#   bash tests/slurm/start_cluster.sh          # install slurm-wlm + munge if missing, start, wait until idle
#   bash tests/slurm/start_cluster.sh stop     # stop the daemons this script started (by pid file)
# Needs root. Idempotent: a second run with the same config only checks the node is idle.
# Debian 12 / slurm 22.05 / munge 0.5, no systemd: munged runs as munge, slurmctld drops to slurm, slurmd is root.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CONF=/etc/slurm/slurm.conf
RUN=/run/slurm
WAIT_S="${SLURM_START_TIMEOUT:-60}"

say() { echo "slurm: $*"; }
die() { echo "slurm: error: $*" >&2; exit 1; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
  for pidf in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
    if alive "$pidf"; then kill "$(cat "$pidf")"; say "stopped $(basename "$pidf" .pid)"; fi
  done
}

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sinfo >/dev/null \
    && command -v munged >/dev/null && return
  command -v apt-get >/dev/null || die "slurmctld/slurmd/munged missing and no apt-get to install them"
  say "installing slurmctld slurmd slurm-client munge (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  install -d -o munge -g munge -m 0755 /run/munge
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  alive /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
  munge -n | unmunge >/dev/null || die "munge does not authenticate (see /var/log/munge/munged.log)"
}

# The node line from `slurmd -C`, with memory below the machine's (else the node goes INVAL and drains).
render_conf() {
  local node mem
  node="$(slurmd -C | head -n1)"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node")"
  node="$(sed "s/RealMemory=[0-9]*/RealMemory=$(( mem * 9 / 10 ))/" <<<"$node")"
  sed -e "s|@HOST@|$(hostname -s)|" -e "s|@NODE@|$node|" -e "s|@ACCT@|accounting_storage/none|" \
    "$HERE/slurm.conf.in"
}

start_slurm() {
  install -d -o slurm -g slurm -m 0755 "$RUN" /var/lib/slurm/slurmctld /var/log/slurm
  install -d -m 0755 /var/lib/slurm/slurmd
  local new; new="$(render_conf)"
  if [ ! -f "$CONF" ] || [ "$new" != "$(cat "$CONF")" ]; then
    say "writing $CONF"
    stop_slurm_only
    printf '%s\n' "$new" > "$CONF.tmp" && mv "$CONF.tmp" "$CONF"
  fi
  alive "$RUN/slurmctld.pid" || /usr/sbin/slurmctld
  alive "$RUN/slurmd.pid" || /usr/sbin/slurmd
}

stop_slurm_only() {
  local pidf
  for pidf in "$RUN/slurmd.pid" "$RUN/slurmctld.pid"; do
    if alive "$pidf"; then
      local pid; pid="$(cat "$pidf")"; kill "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
}

wait_idle() {
  local node state
  node="$(sed -n 's/^NodeName=\([^ ]*\).*/\1/p' "$CONF")"
  for _ in $(seq $(( WAIT_S * 5 ))); do
    state="$(sinfo -h -n "$node" -o %T 2>/dev/null || true)"
    case "$state" in
      idle|mixed|allocated) say "node $node $state (partition short; sinfo in $SECONDS s)"; return 0 ;;
      *drain*|*inval*|down*) scontrol update nodename="$node" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.2
  done
  die "node $node not idle after ${WAIT_S}s (state '${state}'); see /var/log/slurm/*.log"
}

smoke_job() {
  timeout 60 srun -N1 -n1 -t 1 -J audioclust-smoke true || die "the cluster did not run a 1-task job (srun true)"
  say "ready: a 1-task job ran (total ${SECONDS} s)"
}

[ "${1:-start}" = stop ] && { stop; exit 0; }
[ "$(id -u)" = 0 ] || die "must run as root (starts munged, slurmctld, slurmd)"
install_packages
start_munge
start_slurm
wait_idle
smoke_job
