/**
 * The TypeScript face of the native writer (native/). A sink owns the destination's file
 * descriptor; bytes given to write() are copied once into the lock-free ring (or, received into
 * a landing view of the ring, not copied at all) and drained by the native writer thread in exact
 * --block-size writes once the fill reaches --hwm.
 */
export interface SinkOptions {
  /** Every write(2) is exactly this many bytes except the last. */
  blockSize: number;
  /** Ring size in bytes; rounded up to whole blocks, at least one block. */
  bufferSize: number;
  /** Percent of the ring to fill before the writer starts (1..100). */
  hwm: number;
  /** Open a regular file for appending at `truncateTo` instead of creating it fresh. */
  truncateTo?: number;
  /**
   * Regular files: write with O_DIRECT (no copy through the page cache), as Debian's mbuffer
   * does, when the block size is a multiple of 4096; the short last record goes through the
   * page cache. Default false.
   */
  direct?: boolean;
}

export interface SinkStats {
  /** Bytes accepted into the ring by write(). */
  accepted: number;
  /** Bytes acknowledged by write(2) (on the medium, for a tape in the drive's buffer). */
  written: number;
  /** write(2) calls that succeeded. */
  records: number;
  /** Bytes currently in the ring. */
  fill: number;
  capacity: number;
  /** Times the ring ran empty while the writer was active and input had not ended. */
  underruns: number;
}

export interface TapePosition {
  /** MTIOCPOS logical object number (records and filemarks). */
  block: number;
  /** MTIOCGET file number and block within the file (-1 when unknown). */
  fileNumber: number;
  blockInFile: number;
  /** 0 = variable block mode. */
  blockSize: number;
  bot: boolean;
  eof: boolean;
  eod: boolean;
  writeProtected: boolean;
  online: boolean;
}

/** One file volume of a --volume-size run (src/sink/volumes.ts). */
export interface VolumeResult {
  volume: number;
  dest: string;
  /** Bytes the volume holds (what an earlier run left in it included). */
  bytes: number;
  /** write(2) calls of this run into it. */
  records: number;
}

export interface SinkResult extends SinkStats {
  kind: 'file' | 'tape' | 'stdout' | 'pipe' | 'other';
  /** Tape: MTIOCPOS before the first write and after the close's filemark. */
  startPosition?: number;
  endPosition?: number;
  /** Set when the run ended at the end-of-medium early warning (ENOSPC on a tape). */
  endOfMedium?: boolean;
  /** --volume-size: the volumes this run wrote, in order. */
  volumes?: VolumeResult[];
  /** The writer's failure, when there was one (abort() resolves with it instead of throwing). */
  error?: Error;
}

export interface Sink {
  readonly kind: SinkResult['kind'];
  /**
   * Copy a chunk into the ring. Returns undefined when it fit, or a promise that resolves when
   * the whole chunk is in (backpressure). Rejects with a WriterError once the writer has failed.
   */
  write(chunk: Uint8Array): Promise<void> | undefined;
  /**
   * A view of the ring's free space at its head, at most `max` bytes, for a producer to receive
   * its next bytes into (stream/blob-stream.ts Landing); undefined while write() has bytes queued or
   * the free space is small. Handing write() the filled part (a subarray from the view's start)
   * publishes it without a copy. The view is good only until anything else is written.
   */
  landing?(max: number): Buffer | undefined;
  /** Drain the ring to the medium, close (the st driver writes the filemark), report. */
  close(): Promise<SinkResult>;
  /** Stop accepting input, drain what is in the ring where possible, close. */
  abort(): Promise<SinkResult>;
  stats(): SinkStats;
  /**
   * A copy of stream bytes [from, to) (counted from this sink's first accepted byte) out of the
   * ring's memory, which still holds the last `capacity` bytes accepted even once the writer has
   * failed; undefined when they are not all there. Lets a next volume re-send what the full one
   * did not take without fetching it again (issue 14). The oldest bytes may have been overwritten
   * by a landing that was filled but never committed: callers verify digests before using them.
   */
  recent?(from: number, to: number): Buffer | undefined;
  /** Tape only: MTIOCPOS/MTIOCGET now. */
  tapePosition?(): TapePosition;
}
