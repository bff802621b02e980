/**
 * A tiny request/response protocol over a child process's IPC channel, for the HTTP benchmark:
 * the parent sends `{ id, cmd, ...args }`, the child answers `{ id, ok, result | error }`.
 * Every call has a time limit, so a stuck child cannot hang the benchmark.
 */
import type { ChildProcess } from 'node:child_process';

export interface IpcRequest {
  readonly id: number;
  readonly cmd: string;
  readonly args: Record<string, unknown>;
}

export interface IpcReply {
  readonly id: number;
  readonly ok: boolean;
  readonly result?: unknown;
  readonly error?: string;
}

export type Handler = (args: Record<string, unknown>) => unknown;

/** Child side: answers the parent's commands with `handlers`. */
export function serveIpc(handlers: Record<string, Handler>): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('not started with an IPC channel');
  process.on('message', (message: IpcRequest) => {
    const handler = handlers[message.cmd];
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown command ${message.cmd}`);
        return handler(message.args);
      })
      .then(
        (result) => send({ id: message.id, ok: true, result } satisfies IpcReply),
        (e: unknown) => send({ id: message.id, ok: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) } satisfies IpcReply),
      );
  });
  // The parent going away ends the child: no orphan keeps a core busy.
  process.on('disconnect', () => process.exit(0));
}

/** Parent side: a client for one child. */
export class IpcClient {
  private next = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (reply: IpcReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(`${name}: ${reply.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (${code ?? signal}) during a call`));
        this.pending.delete(id);
      }
    });
  }

  call<T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ id, cmd, args } satisfies IpcRequest);
    });
  }
}
