# Runs inside tape-vm on a second, fresh medium: the resume of the run that filled medium 1 goes
# out as a new archive; then a run interrupted by SIGINT and its resume (tape files 2 and 3).
set -u
ace() { node "$ACE" "$@"; }
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp.jsonl --resume-from-checkpoint cp.jsonl -b 64Ki -m 1Mi --no-term > run2.out 2> run2.err
echo $? > run2.rc

# node itself in the background (a shell function would put a subshell between the signal and
# node), with job control on: without it bash starts background jobs with SIGINT ignored.
set -m
node "$ACE" mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp3.jsonl -b 64Ki -m 256Ki --no-term > run3.out 2> run3.err &
pid=$!
set +m
for i in $(seq 1 600); do
  [ -f cp3.jsonl ] && [ "$(grep -c 'vnd.act3-ace.data.offset' cp3.jsonl)" -ge 3 ] && break
  sleep 0.05
done
kill -INT "$pid"
wait "$pid"
echo $? > run3.rc
mt -f /dev/nst0 tell > tell3.txt 2>&1
cmd=$(grep -o 'ace-dt mirror serialize .*' run3.err | head -n 1)
echo "$cmd" > resume3.cmd
# shellcheck disable=SC2086
node "$ACE" ${cmd#ace-dt } > run4.out 2> run4.err
echo $? > run4.rc
mt -f /dev/nst0 rewind
for n in 2 3 4; do
  dd if=/dev/nst0 of=piece$n.tar bs=1M 2> dd$n.err
  echo $? > dd$n.rc
done

# kill -9 in the middle of a tape run (tape file 4): no run-end record. A rewound tape must be
# refused; positioned at the end of data again, the resume measures the tape itself.
mt -f /dev/nst0 eod
set -m
node "$ACE" mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp5.jsonl -b 64Ki -m 256Ki --no-term > run5.out 2> run5.err &
pid=$!
set +m
for i in $(seq 1 600); do
  [ -f cp5.jsonl ] && [ "$(grep -c 'vnd.act3-ace.data.offset' cp5.jsonl)" -ge 5 ] && break
  sleep 0.05
done
kill -KILL "$pid"
wait "$pid"
echo $? > run5.rc
mt -f /dev/nst0 tell > tell5.txt 2>&1
mt -f /dev/nst0 rewind
node "$ACE" mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp5.jsonl --resume-from-checkpoint cp5.jsonl -b 64Ki -m 256Ki --no-term > run6.out 2> run6.err
echo $? > run6.rc
mt -f /dev/nst0 tell > tell6.txt 2>&1
mt -f /dev/nst0 eod
node "$ACE" mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp5.jsonl --resume-from-checkpoint cp5.jsonl -b 64Ki -m 256Ki --no-term -v=info > run7.out 2> run7.err
echo $? > run7.rc
mt -f /dev/nst0 rewind
mt -f /dev/nst0 fsf 3
for n in 5 7; do
  dd if=/dev/nst0 of=piece$n.tar bs=1M 2> dd$n.err
  echo $? > dd$n.rc
done
