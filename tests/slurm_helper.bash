# A one-node Slurm cluster of one's own for a bats file, from Debian's
# slurm-wlm and munge (make deps installs them):
#
#   load test_helper
#   load slurm_helper
#   setup_file() { slurm_start; }
#   teardown_file() { slurm_stop; }
#
# slurm_start runs munged (as the munge user), slurmctld and slurmd, all
# three daemons of this file alone: their slurm.conf, state, logs and pid
# files are in $BATS_FILE_TMPDIR/slurm, their ports are free loopback ports
# picked at start, munged listens on a socket of its own. So several bats
# files may each start a cluster at once under `make check` (bats --jobs).
# It exports SLURM_CONF, which every client (sbatch, squeue, scontrol)
# reads, and returns once the node is idle. The node is `hostname -s` at
# 127.0.0.1 with every CPU, 1 GiB of memory to give out and two fake GPUs
# (character devices standing for /dev/nvidia0 and 1): `--gres=gpu:1`
# sets CUDA_VISIBLE_DEVICES. Finished jobs are written one line each to
# $SLURM_JOBCOMP (jobcomp/filetxt): there is no slurmdbd, hence no sacct.
# SLURM_EXTRA_CONF, when set, is appended to slurm.conf (a key given twice:
# the later value counts). Credentials expire after 15 s, not 120: a
# requeued job (scontrol requeue) may start again cred_expire + 1 s later.
#
# When SLURM_CONF is already set on entry, that cluster is used as it is
# and slurm_stop stops nothing (SLURM_JOBCOMP is then empty).
#
# slurm_stop cancels what is left of this cluster's jobs, waits for them to
# go, then stops the three daemons by their pids and waits for each to be
# gone: nothing is left running.

SLURM_OWN=

# slurm_free_ports N: N free TCP ports on loopback, one a line.
slurm_free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
}

# slurm_node_idle: a node of the cluster (ours has one) is idle.
slurm_node_idle() {
	sinfo -h -o %T 2>/dev/null | grep -qx idle
}

slurm_start() {
	local d="$BATS_FILE_TMPDIR/slurm" m node cpus ports ctld_port slurmd_port key=/etc/munge/munge.key
	if [ -n "${SLURM_CONF:-}" ]; then
		export SLURM_CONF
		SLURM_JOBCOMP=
		wait_for -t 30 slurm_node_idle || {
			echo "slurm_start: no idle node in the cluster of SLURM_CONF=$SLURM_CONF" >&2
			return 1
		}
		return 0
	fi
	[ "$(id -u)" = 0 ] || skip "a cluster of its own needs root (or set SLURM_CONF)"
	[ -x /usr/sbin/slurmctld ] && [ -x /usr/sbin/slurmd ] && [ -x /usr/sbin/munged ] ||
		skip "slurm-wlm and munge are not installed (make deps)"
	SLURM_OWN=1
	mkdir -p "$d/state" "$d/spool" "$d/dev"
	# munged checks that its socket's folder is its own, and the munge user
	# must reach it: not under the test's private temporary folder.
	m=$(mktemp -d "${TMPDIR:-/tmp}/filmeto-munge.XXXXXX")
	echo "$m" > "$d/munge.dir"
	chown munge:munge "$m"
	chmod 0755 "$m"
	# A key when the machine has none (Debian's munge makes one when
	# installed); never one in place of another. Made aside and linked
	# into place, so files starting clusters at once agree on one.
	if [ ! -e "$key" ]; then
		mkdir -p /etc/munge
		mungekey --create --keyfile="$key.$$"
		chown munge:munge "$key.$$"
		chmod 0400 "$key.$$"
		ln "$key.$$" "$key" 2>/dev/null || true
		rm -f "$key.$$"
	fi
	setpriv --reuid=munge --regid=munge --clear-groups \
		/usr/sbin/munged --socket="$m/socket" --key-file="$key" \
		--pid-file="$m/munged.pid" --log-file="$m/munged.log" --seed-file="$m/munged.seed" \
		</dev/null >"$d/munged.out" 2>&1 3>&- || {
		cat "$d/munged.out" "$m/munged.log" >&2
		return 1
	}
	# Two fake GPUs: what gres.conf names must be character devices.
	mknod "$d/dev/nvidia0" c 1 3
	mknod "$d/dev/nvidia1" c 1 3
	cat >"$d/gres.conf" <<-EOF
		Name=gpu File=$d/dev/nvidia0
		Name=gpu File=$d/dev/nvidia1
	EOF
	node=$(hostname -s)
	cpus=$(nproc)
	ports=$(slurm_free_ports 2)
	ctld_port=${ports%%$'\n'*}
	slurmd_port=${ports##*$'\n'}
	SLURM_JOBCOMP="$d/jobcomp.txt"
	# The scheduler runs on every submit and each second (sched_interval),
	# a cancelled job is killed after 1 s, not 30 (KillWait): tests wait
	# for events, and these come quickly.
	cat >"$d/slurm.conf" <<-EOF
		ClusterName=filmeto$$
		SlurmctldHost=$node(127.0.0.1)
		SlurmctldPort=$ctld_port
		SlurmdPort=$slurmd_port
		SlurmUser=root
		SlurmdUser=root
		AuthType=auth/munge
		CredType=cred/munge
		AuthInfo=socket=$m/socket,cred_expire=15
		StateSaveLocation=$d/state
		SlurmdSpoolDir=$d/spool
		SlurmctldPidFile=$d/slurmctld.pid
		SlurmdPidFile=$d/slurmd.pid
		SlurmctldLogFile=$d/slurmctld.log
		SlurmdLogFile=$d/slurmd.log
		SlurmctldDebug=info
		SlurmdDebug=info
		ProctrackType=proctrack/linuxproc
		TaskPlugin=task/none
		MpiDefault=none
		ReturnToService=2
		SwitchType=switch/none
		SelectType=select/cons_tres
		SelectTypeParameters=CR_Core_Memory
		DefMemPerCPU=128
		SchedulerType=sched/backfill
		SchedulerParameters=sched_interval=1,sched_min_interval=100000,bf_interval=1
		KillWait=1
		MinJobAge=300
		InactiveLimit=0
		JobCompType=jobcomp/filetxt
		JobCompLoc=$SLURM_JOBCOMP
		JobAcctGatherType=jobacct_gather/none
		AccountingStorageType=accounting_storage/none
		GresTypes=gpu
		NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1024 Gres=gpu:2 State=UNKNOWN
		PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
		${SLURM_EXTRA_CONF:-}
	EOF
	export SLURM_CONF="$d/slurm.conf" SLURM_JOBCOMP
	# Both daemonize once they have read their configuration and write
	# their pid files; slurm_stop stops them by those.
	/usr/sbin/slurmctld -c -f "$SLURM_CONF" </dev/null >"$d/slurmctld.out" 2>&1 3>&- &&
		/usr/sbin/slurmd -f "$SLURM_CONF" </dev/null >"$d/slurmd.out" 2>&1 3>&- &&
		wait_for -t 30 slurm_node_idle || {
		echo "slurm_start: the node did not come up idle" >&2
		sinfo -N -l >&2 || true
		tail -n 20 "$d"/*.out "$d"/*.log >&2 || true
		slurm_stop
		return 1
	}
}

# slurm_pids: the pids of this file's daemons (munged last: the other two
# talk to it until they are gone).
slurm_pids() {
	local d="$BATS_FILE_TMPDIR/slurm" f
	for f in "$d/slurmd.pid" "$d/slurmctld.pid" "$(cat "$d/munge.dir" 2>/dev/null)/munged.pid"; do
		[ -s "$f" ] && cat "$f"
	done
	return 0
}

slurm_gone() {
	! kill -0 "$1" 2>/dev/null
}

slurm_no_jobs() {
	[ -z "$(squeue -h -o %i 2>/dev/null)" ]
}

slurm_stop() {
	local d="$BATS_FILE_TMPDIR/slurm" p m pids
	[ -n "$SLURM_OWN" ] || return 0
	# Jobs a failed test left: cancelled, and gone before slurmd is.
	if ! slurm_no_jobs; then
		squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null || true
		wait_for -t 20 slurm_no_jobs || echo "slurm_stop: jobs still in squeue" >&2
	fi
	# All three at once: each takes a second or two to wind down (munged
	# on its own timers), and slurmd and slurmctld need munged no more
	# once told to stop.
	pids=$(slurm_pids)
	kill $pids 2>/dev/null || true
	for p in $pids; do
		wait_for -t 10 slurm_gone "$p" || {
			kill -KILL "$p" 2>/dev/null || true
			wait_for -t 5 slurm_gone "$p" || true
		}
	done
	m=$(cat "$d/munge.dir" 2>/dev/null) || true
	[ -z "$m" ] || rm -rf "$m"
	rm -f "$d/munge.dir"
	SLURM_OWN=
}
