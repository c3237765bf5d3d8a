import type { EventEmitter } from 'node:events';

/** Adds `listener` for `event`; the returned function removes it. */
export function listen(emitter: EventEmitter<any>, event: string, listener: (...args: any[]) => void): () => void {
  emitter.on(event, listener);
  return () => emitter.off(event, listener);
}
