import { EventEmitter } from 'node:events'
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser'

/**
 * Stands in for the arguments of a client event that came with binary attachments: the event
 * router answers it with INVALID_PAYLOAD (see event-router.ts). Compared by identity.
 */
export const BINARY_REFUSED: unique symbol = Symbol('binary attachments refused')

/** Socket.IO's own limit on attachments per packet (socket.io-parser's `maxAttachments`). */
const MAX_ATTACHMENTS = 10

export interface JsonOnlyParserOptions {
  /** Attachment bytes one refused packet may announce and send in all; past it the connection closes. */
  maxMessageBytes: number
}

/**
 * Socket.IO's encoder, which can be handed an event's data already as JSON: the recovery log makes
 * that text for itself, and Socket.IO would make it again for the wire (3.6 µs for a 3.6 KB SDP),
 * after walking the data for binary that no event the server sends carries.
 */
export class JsonReusingEncoder extends Encoder {
  private pendingPacket: Packet | undefined
  private pendingJson = ''

  /**
   * The next `encode` of `packet`, an event without an ack id and without binary, takes `json` as
   * its data's text; `drop` forgets it, for when none came. Nothing here checks for binary: every
   * event the server sends is made of client JSON and its own plain values (announce.ts).
   */
  reuse(packet: Packet, json: string): void {
    this.pendingPacket = packet
    this.pendingJson = json
  }

  drop(): void {
    this.pendingPacket = undefined
    this.pendingJson = ''
  }

  override encode(packet: Packet): ReturnType<Encoder['encode']> {
    if (packet !== this.pendingPacket) return super.encode(packet)
    const json = this.pendingJson
    this.drop()
    // encodeAsString's text for an event with no id: its type, its namespace unless the main one, its data.
    return [packet.nsp !== undefined && packet.nsp !== '/' ? `${PacketType.EVENT}${packet.nsp},${json}` : `${PacketType.EVENT}${json}`]
  }
}

/**
 * Socket.IO's packet parser, except that no client packet may carry binary. WebRTC signals are
 * JSON (SDP strings, candidates), and the seed's clients never send binary; walking or keeping a
 * Buffer costs in its size (a 64 KB one took 5 ms to walk and pinned a whole socket read in the
 * recovery log). So a binary event is decided at its header, in O(1) of its attachments: it is
 * handed on as `[event, BINARY_REFUSED]` with its ack id, and its attachments, as they arrive, are
 * counted and dropped, never kept: a packet that never completes holds nothing.
 */
export function createJsonOnlyParser({ maxMessageBytes }: JsonOnlyParserOptions): { Encoder: typeof Encoder; Decoder: new () => unknown } {
  /** Decodes what socket.io-parser's Decoder does, emitting `decoded` for Socket.IO's Client. */
  class JsonOnlyDecoder extends EventEmitter {
    private readonly decoder = new Decoder()
    /** Set while decoding the header of a refused packet: where its plain form goes. */
    private intercepted: Packet | undefined
    private intercepting = false
    /** Attachments of a refused packet still to come, and the bytes they came with so far. */
    private attachmentsDue = 0
    private attachmentBytes = 0

    constructor() {
      super()
      this.decoder.on('decoded', (packet: Packet) => {
        if (this.intercepting) this.intercepted = packet
        else this.emit('decoded', packet)
      })
    }

    /** Socket.IO's Client calls this with each frame; a throw closes that connection. */
    add(frame: unknown): void {
      if (typeof frame === 'string') {
        if (this.attachmentsDue > 0) throw new Error('got plaintext data when reconstructing a packet')
        const type = (frame.charCodeAt(0) - 48) as PacketType
        if (type === PacketType.BINARY_EVENT || type === PacketType.BINARY_ACK) this.refuse(frame, type)
        else this.decoder.add(frame)
        return
      }
      if (this.attachmentsDue === 0) throw new Error('got binary data when not reconstructing a packet')
      this.attachmentBytes += ArrayBuffer.isView(frame) || frame instanceof ArrayBuffer ? frame.byteLength : maxMessageBytes + 1
      if (this.attachmentBytes > maxMessageBytes) throw new Error('binary attachments over the message limit')
      this.attachmentsDue--
    }

    destroy(): void {
      this.decoder.destroy()
      this.attachmentsDue = 0
    }

    /** `5<n>-[…]` (or `6<n>-`): read as the plain packet it would be, without its attachments. */
    private refuse(header: string, type: PacketType): void {
      const dash = header.indexOf('-')
      const count = dash > 1 && dash <= 3 ? Number(header.slice(1, dash)) : NaN
      if (!Number.isInteger(count) || count < 1 || count > MAX_ATTACHMENTS) throw new Error('Illegal attachments')
      this.intercepting = true
      try {
        this.decoder.add(String(type === PacketType.BINARY_EVENT ? PacketType.EVENT : PacketType.ACK) + header.slice(dash + 1))
      } finally {
        this.intercepting = false
      }
      const packet = this.intercepted
      this.intercepted = undefined
      this.attachmentsDue = count
      this.attachmentBytes = 0
      // An ack with binary answers nothing the server asked: nothing to hand on.
      if (packet === undefined || type === PacketType.BINARY_ACK) return
      const event: unknown = Array.isArray(packet.data) ? packet.data[0] : undefined
      this.emit('decoded', { type: PacketType.EVENT, nsp: packet.nsp, id: packet.id, data: [event, BINARY_REFUSED] })
    }
  }
  return { Encoder: JsonReusingEncoder, Decoder: JsonOnlyDecoder }
}
