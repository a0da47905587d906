import { constants } from 'node:fs';
import { type FileHandle, open, readFile, stat, unlink } from 'node:fs/promises';
import { UserError } from '../errors.js';
import { lockExclusive } from '../sink/index.js';

/**
 * One run per destination and per checkpoint (issue 15): two runs writing one archive or one
 * ledger corrupt both while each reports success. Each file gets an exclusive flock(2) for the
 * whole run, taken before anything is read or truncated. The kernel drops it when the holder
 * exits in any way, kill -9 included, so a lock never outlives its run and there is no stale
 * lock to clean up. Devices (a tape: the st driver refuses a second open with EBUSY), standard
 * output and pipes are not locked.
 */
export interface RunLock {
  release(): Promise<void>;
}

interface Target {
  path: string;
  /** 'the destination', 'the checkpoint' ... for messages. */
  what: string;
  /** A file to read (the checkpoint a resume starts from): missing is an error, not created. */
  mustExist?: boolean;
}

/** The process holding a flock on the file (from /proc/locks), as "pid N: command line". */
async function holder(ino: number): Promise<string | undefined> {
  const locks = await readFile('/proc/locks', 'utf8').catch(() => '');
  for (const line of locks.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 12345 08:01:131090 0 EOF"
    const f = line.trim().split(/\s+/);
    if (f[1] !== 'FLOCK' || f[3] !== 'WRITE') continue;
    if (Number(f[5]?.split(':')[2]) !== ino) continue;
    const pid = f[4];
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    return `pid ${pid}${cmd ? `: ${cmd.split('\0').filter(Boolean).join(' ')}` : ''}`;
  }
  return undefined;
}

/**
 * Lock every target that is (or will be) a regular file. A target that does not exist yet is
 * created empty to carry the lock; release() removes it again if the run left it empty.
 */
export async function lockRun(targets: Target[]): Promise<RunLock> {
  const held: { fh: FileHandle; path: string; created: boolean }[] = [];
  const seen = new Map<string, string>();
  const release = async () => {
    for (const h of held.splice(0)) {
      // Unlinked while still locked, so no other run can be holding the path's file meanwhile.
      const empty = h.created && (await h.fh.stat().then((s) => s.size === 0, () => false));
      if (empty) await unlink(h.path).catch(() => {});
      await h.fh.close().catch(() => {});
    }
  };
  try {
    for (const t of targets) {
      if (t.path === '-') continue;
      const before = await stat(t.path).catch(() => undefined);
      if (!before && t.mustExist) throw new UserError('ECHECKPOINT', `cannot read ${t.what} ${t.path}: no such file`);
      if (before && !before.isFile()) continue;
      let fh: FileHandle;
      try {
        fh = await open(t.path, constants.O_RDONLY | constants.O_CREAT, 0o666);
      } catch (e) {
        throw new UserError((e as NodeJS.ErrnoException).code ?? 'EIO', `cannot open ${t.what} ${t.path}: ${(e as Error).message}`);
      }
      const st = await fh.stat();
      const key = `${st.dev}:${st.ino}`;
      const other = seen.get(key);
      if (other) {
        await fh.close();
        if (other === t.what) continue; // the same file named twice for one role
        throw new UserError('EUSAGE', `${t.what} ${t.path} is the same file as ${other}; give them different paths`);
      }
      seen.set(key, t.what);
      const err = lockExclusive(fh.fd);
      if (err) {
        // Not ours: never removed here, even if this run created it (the holder may have too).
        await fh.close();
        if (err !== 'EWOULDBLOCK' && err !== 'EAGAIN') throw new UserError(err, `cannot lock ${t.what} ${t.path}: ${err}`);
        const who = await holder(st.ino);
        throw new UserError('ELOCKED', `${t.what} ${t.path} is in use by another ace-dt run (${who ?? 'a process that holds its lock'}); wait for that run to end or stop it, then run this again`);
      }
      held.push({ fh, path: t.path, created: !before });
    }
  } catch (e) {
    await release();
    throw e;
  }
  return { release };
}
