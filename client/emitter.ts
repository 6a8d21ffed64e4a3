/** A listener map: each event name to its listener's signature. */
export type EventMap<E> = { [K in keyof E]: (...args: never[]) => void }

export interface Emitter<E extends EventMap<E>> {
  /** Adds a listener; returns the function that removes it. */
  readonly on: <K extends keyof E>(event: K, listener: E[K]) => () => void
  readonly off: <K extends keyof E>(event: K, listener: E[K]) => void
  readonly emit: <K extends keyof E>(event: K, ...args: Parameters<E[K]>) => void
}

/** A typed event emitter. A listener that throws is reported and does not stop the others. */
export function createEmitter<E extends EventMap<E>>(): Emitter<E> {
  const listeners = new Map<keyof E, Set<E[keyof E]>>()
  const off = <K extends keyof E>(event: K, listener: E[K]): void => void listeners.get(event)?.delete(listener)
  return {
    on(event, listener) {
      let set = listeners.get(event)
      if (!set) listeners.set(event, (set = new Set()))
      set.add(listener)
      return () => off(event, listener)
    },
    off,
    emit(event, ...args) {
      for (const listener of [...(listeners.get(event) ?? [])]) {
        try {
          ;(listener as (...args: Parameters<E[typeof event]>) => void)(...args)
        } catch (err) {
          console.error(err)
        }
      }
    }
  }
}
