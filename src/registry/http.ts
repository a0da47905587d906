/**
 * The one HTTP interface of the registry layer: a request, and a response whose body is read
 * once. Two transports answer it, chosen per request by transport.ts: undici's keep-alive pool,
 * and for blob GETs without a proxy the bare socket (socket.ts, over socket-pool.ts's
 * keep-alive connections), whose body lends its bytes (received straight into the sink's ring
 * where it offers a Landing). client.ts and auth.ts speak only this interface, and socket.ts
 * imports nothing of transport.ts, so the layer has no import cycle.
 */
import type { Dispatcher } from 'undici';
import type { ChunkWriter, Landing } from '../stream/blob-stream.js';

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
  highWaterMark?: number;
  /** A blob GET: use a bare socket whose body lends its bytes (socket.ts), unless proxied. */
  lend?: boolean;
}

/** What send() callers read: a DispatchBody, or a SocketBody for a blob (socket.ts). */
export interface ResponseBody extends AsyncIterable<unknown> {
  readonly destroyed: boolean;
  /** Lend the body's bytes to `write`, received into `landing` where offered (socket.ts); bodies without it are iterated. */
  pipeTo?(write: ChunkWriter, landing?: Landing): Promise<void>;
  destroy(error?: Error): unknown;
  dump(opts?: { limit: number }): Promise<void>;
}

export interface ResponseData {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: ResponseBody;
}
