# Runs inside tape-vm (a real st driver). Medium 1 is too small for the image: the run must end
# with "end of volume", a complete ledger and the resume command. Then the tape file is read back.
# Env: ACE (path of bin/ace-dt.js). Outputs land in the current (shared) directory.
set -u
ace() { node "$ACE" "$@"; }
mt -f /dev/nst0 tell > tell0.txt 2>&1
ace mirror serialize oci:layout:v1 /dev/nst0 --checkpoint cp.jsonl -b 64Ki -m 1Mi --no-term > run1.out 2> run1.err
echo $? > run1.rc
mt -f /dev/nst0 tell > tell1.txt 2>&1
mt -f /dev/nst0 rewind
dd if=/dev/nst0 of=piece1.tar bs=1M 2> dd1.err
echo $? > dd1.rc
