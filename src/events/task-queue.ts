export type Task = () => void | Promise<void>

export interface TaskQueue {
  /** Runs `task` now when nothing is running, else after everything queued before it. */
  push(task: Task): void
  /** Like push, but an idle queue starts the task in a microtask rather than now. */
  pushSoon(task: Task): void
  /** Settles once everything queued so far has run. */
  idle(): Promise<void>
}

/**
 * Tasks run one at a time, in the order queued. A task pushed to an idle queue runs at once, and
 * one that finishes without a promise costs none: the common event (a relayed signal) allocates no
 * promise. A task that returns a promise holds the queue until it settles; one pushed while another
 * runs (even from inside it) waits its turn. A task that throws or rejects is handed to
 * `onFailure` and the queue goes on.
 */
export function createTaskQueue(onFailure: (error: unknown) => void): TaskQueue {
  return new SerialTaskQueue(onFailure)
}

/**
 * A class, not closures: every socket has one, and its methods are then shared rather than seven
 * functions per socket (docs/performance.md, seventh session). A task that returns a promise gets
 * two small closures for its settling instead: those are joins and clean-ups, not signals.
 */
class SerialTaskQueue implements TaskQueue {
  private readonly waiting: Task[] = []
  private running = false
  private whenIdle: { promise: Promise<void>; resolve: () => void } | undefined

  constructor(private readonly onFailure: (error: unknown) => void) {}

  push(task: Task): void {
    this.start(task, false)
  }

  pushSoon(task: Task): void {
    this.start(task, true)
  }

  idle(): Promise<void> {
    if (!this.running) return Promise.resolve()
    if (this.whenIdle === undefined) {
      let resolve!: () => void
      const promise = new Promise<void>((settle) => (resolve = settle))
      this.whenIdle = { promise, resolve }
    }
    return this.whenIdle.promise
  }

  private start(task: Task, soon: boolean): void {
    if (this.running) {
      this.waiting.push(task)
      return
    }
    this.running = true
    if (soon) queueMicrotask(() => this.drain(task))
    else this.drain(task)
  }

  /** Runs `first` (or the next waiting task), then the rest, until the queue is empty or waits. */
  private drain(first?: Task): void {
    for (let task = first ?? this.waiting.shift(); task !== undefined; task = this.waiting.shift()) {
      let result: void | Promise<void>
      try {
        result = task()
      } catch (error) {
        this.onFailure(error)
        continue
      }
      if (result instanceof Promise) {
        result.then(
          () => this.drain(),
          (error: unknown) => {
            this.onFailure(error)
            this.drain()
          }
        )
        return
      }
    }
    this.running = false
    const idle = this.whenIdle
    this.whenIdle = undefined
    idle?.resolve()
  }
}
