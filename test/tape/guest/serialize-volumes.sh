# Runs inside tape-vm with three small media (--tapes 3): --next-volume changes tapes in one run
# (issue 14 item 1). Env: ACE (bin/ace-dt.js). Outputs land in the current (shared) directory.
set -u
ace() { node "$ACE" "$@"; }
# read_tapes PREFIX: each medium's first tape file into PREFIXn.tar (bs larger than any record).
read_tapes() {
  for n in 1 2 3; do
    $TAPE_VM_LOAD "$n" 2>> load.err
    dd if=/dev/nst0 of="$1$n.tar" bs=1M 2> "dd-$1$n.err"
  done
}

# A: three volumes in one command; the changer is the rig's medium change.
part_a() {
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cpA.jsonl -b 64Ki -m 2Mi --no-term --debug eventsA.jsonl \
  --next-volume 'echo "$ACE_DT_VOLUME $ACE_DT_DEST" >> loadsA.txt && $TAPE_VM_LOAD next' > runA.out 2> runA.err
echo $? > runA.rc
read_tapes a
}

# B: the command fails before volume 2 (the first time): exit 1 and the resume command; the
# operator loads tape 2 and runs that command, whose changer now works (and is told volume 3:
# the numbering goes on across processes).
part_b() {
$TAPE_VM_LOAD 1 2>> load.err
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cpB.jsonl -b 64Ki -m 2Mi --no-term \
  --next-volume 'echo "$ACE_DT_VOLUME" >> loadsB.txt; if [ -e retry ]; then $TAPE_VM_LOAD next; else touch retry; exit 3; fi' > runB.out 2> runB.err
echo $? > runB.rc
$TAPE_VM_LOAD 2 2>> load.err
cmd=$(grep -o 'ace-dt mirror serialize .*' runB.err | head -n 1)
echo "$cmd" > resumeB.cmd
eval "node \"\$ACE\" ${cmd#ace-dt }" > runB2.out 2> runB2.err
echo $? > runB2.rc
read_tapes b
}

# C: no --next-volume, on a terminal (script(1) gives the run a pty): the prompt. Enter after
# loading tape 2; Ctrl-C (typed into the terminal: the tty sends SIGINT) at the prompt for tape 3.
# The terminal's input is a FIFO in the guest's /tmp (a FIFO on the 9p share would open on the host).
part_c() {
$TAPE_VM_LOAD 1 2>> load.err
fifo=/tmp/c.fifo
rm -f "$fifo"; mkfifo "$fifo"
script -qfec "node \"$ACE\" mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cpC.jsonl -b 64Ki -m 2Mi --no-term; echo \$? > runC.rc" /dev/null < "$fifo" > runC.out 2>&1 &
spid=$!
exec 3> "$fifo"
# wait_for TEXT: until the terminal shows TEXT (at most 120 s).
wait_for() {
  for _ in $(seq 1 1200); do grep -q "$1" runC.out && return 0; sleep 0.1; done
  echo "timed out waiting for: $1" >> runC.timeout
}
wait_for 'Load volume 2 into /dev/nst0 and press Enter (q to stop)'
$TAPE_VM_LOAD next 2>> load.err
printf '\n' >&3
wait_for 'Load volume 3 into /dev/nst0 and press Enter (q to stop)'
sleep 0.5
printf '\003' >&3
wait "$spid"
exec 3>&-
tr -d '\r' < runC.out > runC.txt
$TAPE_VM_LOAD 3 2>> load.err
cmd=$(grep -o 'ace-dt mirror serialize .*' runC.txt | head -n 1)
echo "$cmd" > resumeC.cmd
eval "node \"\$ACE\" ${cmd#ace-dt }" > runC2.out 2> runC2.err
echo $? > runC2.rc
read_tapes c
}

# D: part A's run from a registry: Debian's docker-registry started here in the guest (its own
# loopback) on a copy of a storage the host filled; its access log shows every request, so the
# test can count the GETs of each blob across the volume changes.
part_d() {
$TAPE_VM_LOAD 1 2>> load.err
cat > registry.yml <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: $PWD/regdata}}
http: {addr: 127.0.0.1:5000}
EOF
docker-registry serve registry.yml > registry.log 2>&1 &
rpid=$!
for _ in $(seq 1 200); do (exec 3<> /dev/tcp/127.0.0.1/5000) 2> /dev/null && break; sleep 0.1; done
ace mirror serialize 127.0.0.1:5000/vol/img:v1 /dev/nst0 --checkpoint cpD.jsonl -b 64Ki -m 2Mi --no-term \
  --next-volume '$TAPE_VM_LOAD next' > runD.out 2> runD.err
echo $? > runD.rc
kill "$rpid"
wait "$rpid"
read_tapes d
}

for part in ${PARTS:-a b c d}; do "part_$part"; done
