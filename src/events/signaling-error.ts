import { ERROR_MESSAGES, type AckFailure, type ErrorCode } from '../protocol.js'

/** A refusal the client is told about: a stable code plus the message the seed's frontends show. */
export class SignalingError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string = ERROR_MESSAGES[code]) {
    super(message)
    this.name = 'SignalingError'
    this.code = code
  }

  /** The callback's answer for this refusal. */
  toAck(): AckFailure {
    return { success: false, ok: false, code: this.code, error: this.message }
  }
}
