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
  const waiting: Task[] = []
  let running = false
  let whenIdle: { promise: Promise<void>; resolve: () => void } | undefined

  const resume = (): void => drain()
  const failed = (error: unknown): void => {
    onFailure(error)
    drain()
  }

  /** Runs `first` (or the next waiting task), then the rest, until the queue is empty or waits. */
  function drain(first?: Task): void {
    for (let task = first ?? waiting.shift(); task !== undefined; task = waiting.shift()) {
      let result: void | Promise<void>
      try {
        result = task()
      } catch (error) {
        onFailure(error)
        continue
      }
      if (result instanceof Promise) {
        result.then(resume, failed)
        return
      }
    }
    running = false
    const idle = whenIdle
    whenIdle = undefined
    idle?.resolve()
  }

  function start(task: Task, soon: boolean): void {
    if (running) {
      waiting.push(task)
      return
    }
    running = true
    if (soon) queueMicrotask(() => drain(task))
    else drain(task)
  }

  return {
    push: (task) => start(task, false),
    pushSoon: (task) => start(task, true),
    idle() {
      if (!running) return Promise.resolve()
      if (whenIdle === undefined) {
        let resolve!: () => void
        const promise = new Promise<void>((settle) => (resolve = settle))
        whenIdle = { promise, resolve }
      }
      return whenIdle.promise
    }
  }
}
