export type Task = () => void | Promise<void>

export interface TaskQueue {
  /** Runs `task` now when nothing is running, else after everything queued before it. */
  push(task: Task): void
  /** Like push, but an idle queue starts the task in a microtask rather than now. */
  pushSoon(task: Task): void
  /** Settles once everything queued so far has run. */
  whenIdle(): Promise<void>
}

/**
 * Tasks run one at a time, in the order queued. A task pushed to an idle queue runs at once, and
 * one that finishes without a promise costs none: the common event (a relayed signal) allocates no
 * promise. A task that returns a promise holds the queue until it settles; one pushed while another
 * runs (even from inside it) waits its turn. A task that throws or rejects is handed to `failed`
 * and the queue goes on.
 *
 * A class to extend, not a factory: every socket has a queue, and the event router's per-socket
 * state extends this one, so that a socket carries one object for both and no closures
 * (docs/performance.md, seventh and eighth sessions). A task that returns a promise gets two small
 * closures for its settling: those are joins and clean-ups, not signals.
 */
export abstract class SerialTaskQueue implements TaskQueue {
  /** Made when a task first has to wait, and dropped when the queue empties: most sockets never
   * queue one, and an array once pushed to keeps room for sixteen. */
  private waiting: Task[] | undefined
  private running = false
  private idleWaiters: { promise: Promise<void>; resolve: () => void } | undefined

  /** A task threw or rejected. */
  protected abstract failed(error: unknown): void

  push(task: Task): void {
    this.start(task, false)
  }

  pushSoon(task: Task): void {
    this.start(task, true)
  }

  whenIdle(): Promise<void> {
    if (!this.running) return Promise.resolve()
    if (this.idleWaiters === undefined) {
      let resolve!: () => void
      const promise = new Promise<void>((settle) => (resolve = settle))
      this.idleWaiters = { promise, resolve }
    }
    return this.idleWaiters.promise
  }

  private start(task: Task, soon: boolean): void {
    if (this.running) {
      ;(this.waiting ??= []).push(task)
      return
    }
    this.running = true
    if (soon) queueMicrotask(() => this.drain(task))
    else this.drain(task)
  }

  /** Runs `first` (or the next waiting task), then the rest, until the queue is empty or waits. */
  private drain(first?: Task): void {
    for (let task = first ?? this.waiting?.shift(); task !== undefined; task = this.waiting?.shift()) {
      let result: void | Promise<void>
      try {
        result = task()
      } catch (error) {
        this.failed(error)
        continue
      }
      if (result instanceof Promise) {
        result.then(
          () => this.drain(),
          (error: unknown) => {
            this.failed(error)
            this.drain()
          }
        )
        return
      }
    }
    this.running = false
    this.waiting = undefined
    const idle = this.idleWaiters
    this.idleWaiters = undefined
    idle?.resolve()
  }
}
