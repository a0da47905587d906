# Runs inside tape-vm on a second, fresh medium: the resume of the run that filled medium 1 goes
# out as a new archive (tape file 0); then a run interrupted by SIGINT and its resume (files 1, 2);
# then a run killed with SIGKILL and its resume, which must measure the tape itself (files 3, 4).
set -u
ace() { node "$ACE" "$@"; }

# interrupt SIGNAL RECORDS NAME CHECKPOINT: start a serialize to the tape in the background and
# send SIGNAL once its ledger holds RECORDS offsets. node itself runs in the background (a shell
# function would put a subshell between the signal and node), with job control on: without it
# bash starts background jobs with SIGINT ignored.
interrupt() {
  local sig=$1 records=$2 name=$3 cp=$4 pid
  shift 4
  set -m
  node "$ACE" mirror serialize oci:layout:v1 /dev/nst0 --checkpoint "$cp" -b 64Ki -m 256Ki --no-term "$@" > "$name.out" 2> "$name.err" &
  pid=$!
  set +m
  for _ in $(seq 1 600); do
    [ -f "$cp" ] && [ "$(grep -c 'vnd.act3-ace.data.offset' "$cp")" -ge "$records" ] && break
    sleep 0.05
  done
  kill "-$sig" "$pid"
  wait "$pid"
  echo $? > "$name.rc"
}

# dd_files FIRST LAST: read the next tape files into pieceN.tar (bs larger than any record).
dd_files() {
  for n in $(seq "$1" "$2"); do
    dd if=/dev/nst0 of="piece$n.tar" bs=1M 2> "dd$n.err"
    echo $? > "dd$n.rc"
  done
}

ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp.jsonl --resume-from-checkpoint cp.jsonl -b 64Ki -m 1Mi --no-term > run2.out 2> run2.err
echo $? > run2.rc

interrupt INT 3 run3 cp3.jsonl
mt -f /dev/nst0 tell > tell3.txt 2>&1
cmd=$(grep -o 'ace-dt mirror serialize .*' run3.err | head -n 1)
echo "$cmd" > resume3.cmd
# shellcheck disable=SC2086
node "$ACE" ${cmd#ace-dt } > run4.out 2> run4.err
echo $? > run4.rc
mt -f /dev/nst0 rewind
dd_files 2 4

# kill -9: no run-end record. A rewound tape must be refused; positioned at the end of data
# again, the resume measures the tape itself.
mt -f /dev/nst0 eod
interrupt KILL 5 run5 cp5.jsonl
mt -f /dev/nst0 tell > tell5.txt 2>&1
mt -f /dev/nst0 rewind
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp5.jsonl --resume-from-checkpoint cp5.jsonl -b 64Ki -m 256Ki --no-term > run6.out 2> run6.err
echo $? > run6.rc
mt -f /dev/nst0 tell > tell6.txt 2>&1
mt -f /dev/nst0 eod
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp5.jsonl --resume-from-checkpoint cp5.jsonl -b 64Ki -m 256Ki --no-term -v=info > run7.out 2> run7.err
echo $? > run7.rc
mt -f /dev/nst0 rewind
mt -f /dev/nst0 fsf 3
dd_files 5 6

# kill -9 during a tape resume, then resumed again (issue 15). run9 dies as soon as its run-start
# is in the ledger, with a 64 MiB ring that starts writing only when full or at the end of the
# input: nothing has reached the tape, so st writes no filemark and the measure must see that
# nothing was written; run10 dies after
# two blobs of its own piece; run11 measures run10's piece and completes. Every line of the
# ledger carries the offset annotation: run-start and run-end records count too.
mt -f /dev/nst0 eod
interrupt KILL 3 run8 cp8.jsonl
interrupt KILL "$(($(grep -c 'vnd.act3-ace.data.offset' cp8.jsonl) + 2))" run9 cp8.jsonl --resume-from-checkpoint cp8.jsonl -m 64Mi --hwm 100
interrupt KILL "$(($(grep -c 'vnd.act3-ace.data.offset' cp8.jsonl) + 4))" run10 cp8.jsonl --resume-from-checkpoint cp8.jsonl
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp8.jsonl --resume-from-checkpoint cp8.jsonl -b 64Ki -m 256Ki --no-term > run11.out 2> run11.err
echo $? > run11.rc
mt -f /dev/nst0 rewind
mt -f /dev/nst0 fsf 5
dd_files 7 9
