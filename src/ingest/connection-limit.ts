// Connection slots: at most `max` open connections in all and `perIp` from one peer address, so one
// client cannot hold every slot. When the slots run short, idle keep-alive connections (a response
// sent, no request in flight) are closed first, oldest first; only when none is idle is the new
// connection refused (closed at once, before any byte is read). A listed trusted proxy (its clients'
// connections all come from its address) is exempt from the per-IP bound.
// Node's own server.maxConnections refuses new connections while idle ones hold the slots; this replaces it.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimitOptions {
  max: number;
  perIp: number;
  /** True for a peer whose connections are not bound per IP (a trusted proxy). */
  exempt: (ip: string) => boolean;
  onRefused?: (reason: 'max' | 'per-ip') => void;
}

interface SocketState {
  ip: string;
  /** Requests in flight on the socket. */
  active: number;
  /** A response was sent on it: when `active` is 0 it is an idle keep-alive connection. */
  served: boolean;
  counted: boolean;
}

export function limitConnections(server: Server, opts: ConnectionLimitOptions): { open(): number; openFrom(ip: string): number } {
  const states = new Map<Socket, SocketState>(); // insertion order: oldest first
  const perIp = new Map<string, number>();

  const forget = (socket: Socket): void => {
    const st = states.get(socket);
    if (!st || !st.counted) return;
    st.counted = false;
    states.delete(socket);
    const n = (perIp.get(st.ip) ?? 1) - 1;
    if (n > 0) perIp.set(st.ip, n);
    else perIp.delete(st.ip);
  };

  /** Closes the oldest idle keep-alive connection (of `ip` when given); false when there is none. */
  const closeIdle = (ip?: string): boolean => {
    for (const [socket, st] of states) {
      if (st.active === 0 && st.served && (ip === undefined || st.ip === ip)) {
        forget(socket); // its slot is free now, not when its close event comes
        socket.destroy();
        return true;
      }
    }
    return false;
  };

  server.on('connection', (socket: Socket) => {
    const ip = socket.remoteAddress ?? '';
    const bounded = !opts.exempt(ip);
    if (bounded && (perIp.get(ip) ?? 0) >= opts.perIp && !closeIdle(ip)) {
      opts.onRefused?.('per-ip');
      socket.destroy();
      return;
    }
    if (states.size >= opts.max && !closeIdle()) {
      opts.onRefused?.('max');
      socket.destroy();
      return;
    }
    states.set(socket, { ip, active: 0, served: false, counted: true });
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    socket.once('close', () => forget(socket));
  });

  server.on('request', (req, res) => {
    const st = states.get(req.socket);
    if (!st) return;
    st.active++;
    let done = false;
    const end = () => {
      if (done) return;
      done = true;
      st.active--;
      st.served = true;
    };
    res.once('finish', end);
    res.once('close', end);
  });

  return { open: () => states.size, openFrom: (ip) => perIp.get(ip) ?? 0 };
}
