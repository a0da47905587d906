// Moved to src/stream/blob-stream.ts (neutral: sources and the registry client both use it).
export { pipeIterable, pushBlobStream } from '../stream/blob-stream.js';
