import { native } from './native.js';
import { tapeStatus } from './index.js';

/**
 * The tape drive's ioctls that archive readers need (archive/read-tape.ts `TapeOps`): its status
 * (MTIOCGET + MTIOCPOS: position and block size) and spacing forward over records (MTFSR) on a
 * descriptor the reader opened. Only src/sink touches the addon: the services hand this object
 * to the readers, which never load it themselves.
 */
export const tapeOps = {
  status: (device: string) => tapeStatus(device),
  spaceRecords: (fd: number, count: number) => native().spaceRecords(fd, count),
};
