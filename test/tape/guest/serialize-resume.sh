# Runs inside tape-vm on a second, fresh medium: the resume of the run that filled medium 1 goes
# out as a new archive (tape file 0); then a run interrupted by SIGINT and its resume (files 1, 2);
# then a run killed with SIGKILL and its resume, which must measure the tape itself (files 3, 4);
# then a killed run, a resume killed before it wrote, one killed inside its piece, and the
# resume of them all (files 5, 6, 7). Env: ACE (bin/ace-dt.js); stuck.env (from the test): the
# blobs where the interrupted runs stall.
set -u
ace() { node "$ACE" "$@"; }
. ./stuck.env

# stalled LAYOUT BLOB: a copy of LAYOUT in the guest's own /tmp (a FIFO on the 9p share would
# open on the host) whose blob BLOB (hex) is a FIFO; prints the copy's path.
stalled() {
  local d
  d=$(mktemp -d)/$1
  cp -r "$1" "$d"
  rm "$d/blobs/sha256/$2"
  mkfifo "$d/blobs/sha256/$2"
  echo "$d"
}

# interrupt SIGNAL RECORDS NAME CHECKPOINT LAYOUT BLOB [ARGS...]: serialize LAYOUT to the tape
# from a copy whose blob BLOB is a FIFO that never delivers a byte, and send SIGNAL once the
# ledger holds RECORDS lines (every line carries the offset annotation, run records included).
# The run cannot get past BLOB, so where it stands when the signal comes is certain however slow
# the guest is: a record count against a running writer was a race the writer could win. The
# FIFO is held open for writing here (not by node), and closed after the signal so that a read
# still pending ends. node itself runs in the background (a shell function would put a subshell
# between the signal and node), with job control on: without it bash starts background jobs with
# SIGINT ignored. The copy's path goes to NAME.src.
interrupt() {
  local sig=$1 records=$2 name=$3 cp=$4 src pid
  src=$(stalled "$5" "$6")
  exec 4<> "$src/blobs/sha256/$6"
  shift 6
  set -m
  node "$ACE" mirror serialize "oci:$src:v1" /dev/nst0 --checkpoint "$cp" -b 64Ki -m 256Ki --no-term "$@" > "$name.out" 2> "$name.err" 4>&- &
  pid=$!
  set +m
  for _ in $(seq 1 1200); do
    [ -f "$cp" ] && [ "$(grep -c 'vnd.act3-ace.data.offset' "$cp")" -ge "$records" ] && break
    sleep 0.05
  done
  kill "-$sig" "$pid"
  exec 4>&-
  wait "$pid"
  echo $? > "$name.rc"
  echo "$src" > "$name.src"
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

# SIGINT with the last layer stalled: the run-start, index, two manifests, two configs and two
# layers are in the ledger (8 lines).
interrupt INT 8 run3 cp3.jsonl layout "$TWO_LAST"
mt -f /dev/nst0 tell > tell3.txt 2>&1
cmd=$(grep -o 'ace-dt mirror serialize .*' run3.err | head -n 1)
echo "$cmd" > resume3.cmd
# The printed command, as typed, but for the image: the layout the stalled copy stands for.
cmd=${cmd//oci:$(cat run3.src):/oci:layout:}
# shellcheck disable=SC2086
node "$ACE" ${cmd#ace-dt } > run4.out 2> run4.err
echo $? > run4.rc
mt -f /dev/nst0 rewind
dd_files 2 4

# kill -9 (the same point): no run-end record, and 8 MB less at most the ring on the tape. A
# rewound tape must be refused; positioned at the end of data again, the resume measures the
# tape itself.
mt -f /dev/nst0 eod
interrupt KILL 8 run5 cp5.jsonl layout "$TWO_LAST"
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

# kill -9 during a tape resume, then resumed again (issue 15), on an image of eight 2 MB layers.
# run8 stalls at layer 5 and dies with the run-start, manifest, config and layers 1-4 in the
# ledger (7 lines). run9 stalls at layer 8 with a 64 MiB ring that starts writing only when full
# or at the end of the input: it reaches neither, so nothing reaches the tape whenever the kill
# comes (after run8's run-end and its own run-start), st writes no filemark and the measure must
# see that nothing was written. run10 stalls at layer 8 too and dies with three layers of its own
# piece in the ledger (6 MB against a 256 KiB ring: part of it is on the tape); run11 measures
# run10's piece and completes.
mt -f /dev/nst0 eod
interrupt KILL 7 run8 cp8.jsonl layered "$LAYERED_5"
interrupt KILL "$(($(grep -c 'vnd.act3-ace.data.offset' cp8.jsonl) + 2))" run9 cp8.jsonl layered "$LAYERED_8" --resume-from-checkpoint cp8.jsonl -m 64Mi --hwm 100
interrupt KILL "$(($(grep -c 'vnd.act3-ace.data.offset' cp8.jsonl) + 5))" run10 cp8.jsonl layered "$LAYERED_8" --resume-from-checkpoint cp8.jsonl
ace mirror serialize oci:layered:v1 /dev/nst0 --checkpoint cp8.jsonl --resume-from-checkpoint cp8.jsonl -b 64Ki -m 256Ki --no-term > run11.out 2> run11.err
echo $? > run11.rc
mt -f /dev/nst0 rewind
mt -f /dev/nst0 fsf 5
dd_files 7 9
