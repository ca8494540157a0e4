#!/usr/bin/env bash
# A one-node Slurm cluster on 127.0.0.1, to try (and test) the cluster path (`--engine submitit`)
# on a real scheduler: Debian's slurm-wlm and munge, plus slurmdbd on a private MariaDB, because
# submitit asks `sacct` for the state of a job that ended without a result (a cancelled job) and
# sacct needs the accounting database.
#
#   scripts/slurm_local.sh start    # install what is missing (apt, as root), start, wait until idle
#   scripts/slurm_local.sh env      # the line to eval in a shell that submits: export SLURM_CONF=...
#   scripts/slurm_local.sh status   # sinfo, or exit 1 when the cluster is down
#   scripts/slurm_local.sh stop     # stop the daemons this script started
#
# Everything (config, state, logs, the database) lives under $SLURM_LOCAL_DIR
# (default /tmp/ticketlib-slurm). `start` is idempotent: a cluster that already answers is left as
# it is. No systemd is needed: the daemons are started directly (as root, in a container or VM).
# Ports: $SLURM_LOCAL_PORT (slurmctld), +1 (slurmd), +2 (slurmdbd), +3 (MariaDB); default 16817.
set -euo pipefail

dir="${SLURM_LOCAL_DIR:-/tmp/ticketlib-slurm}"
port="${SLURM_LOCAL_PORT:-16817}"
conf="$dir/etc/slurm.conf"
node=localhost
packages=(slurm-wlm munge slurmdbd mariadb-server)

say() { echo "[slurm-local] $*" >&2; }

install_packages() {
  local missing=()
  for cmd in slurmctld slurmd sbatch munged slurmdbd mariadbd; do
    command -v "$cmd" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin" command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
  done
  [ ${#missing[@]} = 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing ${missing[*]}; install ${packages[*]} (Debian/Ubuntu, as root) first"
    return 2
  fi
  say "installing ${packages[*]} with apt (missing: ${missing[*]})"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${packages[@]}" >/dev/null) || { say "apt-get install failed"; return 2; }
}

write_config() {
  mkdir -p "$dir"/{etc,state,spool,log,run,db}
  local cpus mem
  cpus="$(nproc)"
  mem="$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)"  # under the real memory, or the node drains
  cat > "$conf" <<EOF
# Written by scripts/slurm_local.sh: one node, one partition, accounting in slurmdbd.
ClusterName=ticketlib
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups in a container: processes are tracked through /proc (the whole tree, so a
# cancelled job's notebook kernels, which run in sessions of their own, are killed with it).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
KillWait=5
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((port + 2))
JobCompType=jobcomp/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
  cat > "$dir/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$((port + 2))
SlurmUser=root
PidFile=$dir/run/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((port + 3))
StorageUser=root
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$dir/etc/slurmdbd.conf"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local seconds="$1" what="$2"
  shift 2
  for _ in $(seq $((seconds * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  say "$what did not come up in ${seconds}s; logs in $dir/log"
  tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || true
  return 1
}

munge_up() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  # The default socket (/run/munge/munge.socket.2), which every Slurm command uses; a munged
  # already serving it (the system's) is used as it is.
  munge_up && return 0
  [ -f /etc/munge/munge.key ] || { say "no /etc/munge/munge.key (the munge package makes it)"; return 1; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  /usr/sbin/munged --force --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    </dev/null >>"$dir/log/munged.log" 2>&1 9>&-
  wait_for 10 munged munge_up
}

start_mariadb() {
  alive "$dir/run/mariadb.pid" && return 0
  if [ ! -d "$dir/db/mysql" ]; then
    mariadb-install-db --user=root --datadir="$dir/db" --auth-root-authentication-method=normal \
      --skip-test-db >"$dir/log/mariadb-install.log" 2>&1
  fi
  # Only on 127.0.0.1 and a socket of its own; root without a password, for slurmdbd.
  setsid mariadbd --user=root --datadir="$dir/db" --port=$((port + 3)) --bind-address=127.0.0.1 \
    --socket="$dir/run/mariadb.sock" --pid-file="$dir/run/mariadb.pid" --log-error="$dir/log/mariadb.log" \
    --skip-networking=0 --innodb-buffer-pool-size=32M </dev/null >/dev/null 2>&1 9>&- &
  wait_for 60 MariaDB mariadb --socket="$dir/run/mariadb.sock" -uroot -e "SELECT 1"
}

start_slurm() {
  export SLURM_CONF="$conf"
  if ! alive "$dir/run/slurmdbd.pid"; then
    /usr/sbin/slurmdbd </dev/null >>"$dir/log/slurmdbd.log" 2>&1 9>&-  # forks into the background
    wait_for 30 slurmdbd bash -c "exec 3<>/dev/tcp/127.0.0.1/$((port + 2))"
    sacctmgr -i add cluster ticketlib >/dev/null 2>&1 || true  # before slurmctld registers to it
  fi
  if ! alive "$dir/run/slurmctld.pid"; then
    /usr/sbin/slurmctld -f "$conf" </dev/null >>"$dir/log/slurmctld.log" 2>&1 9>&-
    wait_for 30 slurmctld scontrol ping
  fi
  if ! alive "$dir/run/slurmd.pid"; then
    /usr/sbin/slurmd -f "$conf" -N "$node" </dev/null >>"$dir/log/slurmd.log" 2>&1 9>&-
  fi
  wait_for 60 "the node (idle)" node_idle
}

node_idle() { sinfo -h -N -n "$node" -o '%t' | grep -Eq '^(idle|mix|alloc)'; }

start() {
  install_packages
  exec 9>"$dir.lock"
  flock 9  # two starts at once: the second waits, then finds the cluster up
  write_config
  start_munge
  start_mariadb
  start_slurm
  say "up: $(sinfo -h -o '%P %D %t %c CPUs') (SLURM_CONF=$conf)"
}

stop_group() {  # SIGTERM the named daemons at once, wait for them (10 s, then SIGKILL)
  local name pid pids=()
  for name in "$@"; do
    alive "$dir/run/$name.pid" && pids+=("$(cat "$dir/run/$name.pid")")
    rm -f "$dir/run/$name.pid"
  done
  [ ${#pids[@]} = 0 ] && return 0
  kill "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

stop() {
  # Slurm first, then its accounting, then what that needs.
  stop_group slurmd slurmctld
  stop_group slurmdbd
  stop_group mariadb munged
  say "stopped"
}

case "${1:-}" in
  start) mkdir -p "$(dirname "$dir")" && start ;;
  stop) stop ;;
  env) echo "export SLURM_CONF=$conf" ;;
  status) SLURM_CONF="$conf" sinfo ;;
  install) install_packages ;;
  *) echo "usage: $0 start|stop|status|env|install" >&2; exit 2 ;;
esac
