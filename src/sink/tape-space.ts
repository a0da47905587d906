import { native, type RawSpaceOutcome } from './native.js';
import { tapeStatus } from './index.js';

/**
 * Tape positioning for readers that skip data (`mirror inspect`): space forward over records
 * (MTFSR) on a descriptor the caller opened, and the drive's block size. Only src/sink touches
 * the addon; readers get these two functions.
 */
export type SpaceOutcome = RawSpaceOutcome;

export function spaceRecords(fd: number, count: number): Promise<SpaceOutcome> {
  return native().spaceRecords(fd, count);
}

/** The drive's block size: 0 in variable-block mode, else the fixed block size (MTIOCGET). */
export function tapeBlockSize(device: string): number {
  return tapeStatus(device).blockSize;
}
