/**
 * Keep-alive connections for the bare-socket transport (socket.ts), a small pool per origin
 * (issue 11): a blob GET takes an idle connection or opens one, and gives it back when its
 * body ended exactly where its Content-Length said. Over https the pool keeps the last TLS session
 * and offers it to every new connection, so a reconnect is an abbreviated handshake. Opening a
 * connection per blob cost a TCP (and TLS) handshake per blob, a round trip or two across a WAN.
 *
 * A connection reads with `onread` into one 1 MiB buffer of its own, or into the memory the
 * exchange in progress offers (the sink's ring); what it reads goes to that exchange. While idle it
 * keeps reading, so a server that closes it is noticed at once, and anything the server sends
 * unasked ends it.
 */
import net from 'node:net';
import tls from 'node:tls';

const READ_SIZE = 1 << 20;
const CONNECT_TIMEOUT_MS = 10_000;
/** Idle connections are closed after this (below the usual server keep-alive timeouts). */
const IDLE_TIMEOUT_MS = 15_000;

/** Verification, and the trusted roots and client certificate as one context per origin (transport.ts). */
export interface TlsOptions {
  rejectUnauthorized: boolean;
  secureContext?: tls.SecureContext;
}

/** What a connection hands its reads and events to: the exchange in progress (socket.ts). */
export interface ConnectionUser {
  /** Where the next read lands (the connection's own buffer unless the user offers memory). */
  readBuffer(own: Buffer): Buffer;
  /** Returns whether to keep reading (false: the socket pauses). */
  onRead(buf: Buffer, n: number): boolean;
  onEnd(): void;
  onError(e: Error): void;
  onTimeout(): void;
}

function networkError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

export class Connection {
  readonly socket: net.Socket;
  readonly own = Buffer.allocUnsafe(READ_SIZE);
  /** Exchanges this connection carried before the current one (0: a fresh connection). */
  served = 0;
  private user: ConnectionUser | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    private readonly pool: SocketPool,
    url: URL,
    tlsOptions: TlsOptions | undefined,
    session: Buffer | undefined,
  ) {
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    // Node asks for the buffer of the next read after every callback (net.Socket `onread`).
    const onread = {
      buffer: () => (this.user ? this.user.readBuffer(this.own) : this.own),
      callback: (n: number, buf: Buffer) => {
        if (this.user) return this.user.onRead(buf, n);
        this.destroy(); // bytes nobody asked for: the connection's framing is lost
        return false;
      },
    };
    const secure = url.protocol === 'https:';
    this.socket = secure
      ? // tls.connect takes `onread` as net.connect does (Node's tls docs); @types/node lacks it.
        tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], session, ...tlsOptions, onread } as tls.ConnectionOptions)
      : net.connect({ host, port, onread });
    if (secure) this.socket.on('session', (s: Buffer) => this.pool.rememberSession(s));
    // A host that never answers fails in CONNECT_TIMEOUT_MS (undici's default too), a retryable
    // network error, not after the long idle timeout of a body.
    const connecting = setTimeout(() => this.user?.onError(networkError('ETIMEDOUT', `no connection to ${url.host} in ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
    this.socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(connecting));
    this.socket.once('close', () => clearTimeout(connecting));
    this.socket.setNoDelay(true);
    this.socket.on('timeout', () => this.user?.onTimeout());
    this.socket.on('error', (e) => (this.user ? this.user.onError(e) : this.destroy()));
    this.socket.on('end', () => (this.user ? this.user.onEnd() : this.destroy()));
    this.socket.on('close', () => {
      this.closed = true;
      this.pool.forget(this);
      this.user?.onEnd();
    });
  }

  /** Start an exchange on this connection. */
  attach(user: ConnectionUser, timeoutMs: number): void {
    clearTimeout(this.idleTimer);
    this.user = user;
    this.socket.setTimeout(timeoutMs);
  }

  /** The exchange is over: back to the pool when it left the connection clean, else closed. */
  detach(reusable: boolean): void {
    this.user = undefined;
    this.served++;
    if (!reusable || this.closed) return this.destroy();
    this.socket.setTimeout(0);
    this.idleTimer = setTimeout(() => this.destroy(), IDLE_TIMEOUT_MS);
    this.idleTimer.unref();
    this.socket.resume(); // notice a close (or stray bytes) while idle
    this.pool.release(this);
  }

  destroy(): void {
    clearTimeout(this.idleTimer);
    this.user = undefined;
    this.closed = true;
    this.pool.forget(this);
    this.socket.destroy();
  }
}

/** The idle connections to one origin, and its last TLS session. */
export class SocketPool {
  private idle: Connection[] = [];
  private session: Buffer | undefined;
  /** Connections opened in all (tests check that they stay few). */
  opened = 0;

  constructor(
    private readonly url: URL,
    private readonly tlsOptions: TlsOptions | undefined,
    private readonly maxIdle: number,
  ) {}

  /** The most recently used idle connection (the likeliest to be alive), or a new one. */
  acquire(fresh = false): Connection {
    while (!fresh) {
      const c = this.idle.pop();
      if (!c) break;
      if (!c.closed) return c;
    }
    this.opened++;
    return new Connection(this, this.url, this.tlsOptions, this.session);
  }

  release(c: Connection): void {
    if (this.idle.length >= this.maxIdle) return c.destroy();
    this.idle.push(c);
  }

  forget(c: Connection): void {
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }

  rememberSession(s: Buffer): void {
    this.session = s;
  }

  close(): void {
    for (const c of this.idle.splice(0)) c.destroy();
  }
}
