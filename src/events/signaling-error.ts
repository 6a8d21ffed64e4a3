import { ERROR_MESSAGES, type ErrorCode, type ErrorInfo } from '../protocol.js'

/** A refusal the client is told about: a stable code plus the message the seed's frontends show. */
export class SignalingError extends Error {
  readonly code: ErrorCode

  constructor(code: ErrorCode, message: string = ERROR_MESSAGES[code]) {
    super(message)
    this.name = 'SignalingError'
    this.code = code
  }

  toJSON(): ErrorInfo {
    return { code: this.code, message: this.message }
  }
}
